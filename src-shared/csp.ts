// The renderer's Content-Security-Policy, built in one place for the Electron session (app/security.ts), the
// browser-mode server (server/server.ts) and checked against index.html's meta tag (csp.test.ts).
// Scripts only from our own origin (no inline, no eval); no network beyond what each host adds. Styles allow
// 'unsafe-inline' because Vue and ECharts set style attributes; style injection cannot run code.

export interface CspExtras {
  /** extra script/style origins (the electron-vite dev server in dev) */
  origins?: string[];
  /** extra image sources (the Electron image scheme, `mopro-img:`) */
  img?: string[];
  /** extra connect sources (the browser-mode WebSocket, the dev server's HMR socket) */
  connect?: string[];
  /** frame-ancestors is ignored in a meta tag, so index.html leaves it out */
  meta?: boolean;
}

export function cspDirectives(x: CspExtras = {}): [string, string[]][] {
  const self = ["'self'"],
    origins = x.origins ?? [];
  const d: [string, string[]][] = [
    ['default-src', ["'none'"]],
    ['script-src', [...self, ...origins]],
    ['style-src', [...self, "'unsafe-inline'", ...origins]],
    ['img-src', [...self, ...(x.img ?? []), 'data:', 'blob:']],
    ['font-src', [...self, 'data:']],
    ['connect-src', [...self, ...origins, ...(x.connect ?? [])]],
    ['worker-src', [...self, 'blob:']],
    ['object-src', ["'none'"]],
    ['base-uri', ["'none'"]],
    ['form-action', ["'none'"]],
    ['frame-src', ["'none'"]],
  ];
  if (!x.meta) d.push(['frame-ancestors', ["'none'"]]);
  return d;
}

export function contentSecurityPolicy(x: CspExtras = {}): string {
  return cspDirectives(x)
    .map(([k, v]) => `${k} ${v.join(' ')}`)
    .join('; ');
}
