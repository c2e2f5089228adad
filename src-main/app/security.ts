// The Electron shell's security policy as plain data and pure predicates, so every rule is
// unit-tested without an Electron binary. main.ts / window.ts only wire these into Electron.
//
// Model: the renderer is untrusted web content (it displays images scraped from the web).
// It runs sandboxed with context isolation, no Node, a strict CSP, cannot navigate, open
// windows or get permissions, and reaches the file system only through the typed API (IPC,
// validated) and the image protocol (only files inside the opened dataset / thumb cache).
import { contentSecurityPolicy as sharedCsp } from '../../src-shared/csp';

/** Serves the built renderer (out/renderer) under a real origin, so CSP 'self' means us only. */
export const APP_SCHEME = 'mopro-app';
export const APP_HOST = 'app';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`;
/** Serves dataset images and thumbnails, nothing else. */
export const IMG_SCHEME = 'mopro-img';

/** What protocol.registerSchemesAsPrivileged gets (must run before app 'ready'). */
export function privilegedSchemes() {
  return [
    // standard: relative URLs and an origin; secure: treated like https (no mixed-content downgrade).
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
    // No corsEnabled / bypassCSP: images are only ever put into <img>, and the CSP must name the scheme.
    { scheme: IMG_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ];
}

/**
 * webPreferences of every window. Exactly this list: tests compare it with toEqual so that a
 * weakening (or a new, unreviewed option) fails loudly.
 */
export function secureWebPreferences(preloadPath: string, opts: { devTools: boolean }) {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
    devTools: opts.devTools,
  } as const;
}

/** The renderer's CSP in the Electron session: the shared policy plus the image scheme (and the dev server in dev). */
export function contentSecurityPolicy(opts: { devServerUrl?: string } = {}): string {
  const dev = opts.devServerUrl ? new URL(opts.devServerUrl) : null;
  return sharedCsp({
    origins: dev ? [dev.origin] : [],
    img: [`${IMG_SCHEME}:`],
    connect: dev ? [`ws://${dev.host}`] : [],
  });
}

/** Origins whose pages may talk to the API: our app scheme, plus the dev server in dev. */
export function trustedOrigins(devServerUrl?: string): string[] {
  const out = [APP_ORIGIN];
  const dev = originOf(devServerUrl);
  if (dev) out.push(dev);
  return out;
}

/**
 * The origin of a URL as Chromium sees it for our standard schemes. Node's URL gives 'null' for
 * every non-special scheme (mopro-app:), so it is built from protocol + host here. file:, data:,
 * blob: and host-less URLs have no trustworthy origin: null.
 */
export function originOf(url: string | undefined | null): string | null {
  if (!url) return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') return u.origin;
  if (u.protocol === 'file:' || u.protocol === 'data:' || u.protocol === 'blob:' || !u.host) return null;
  return `${u.protocol}//${u.host}`;
}

/** True when `url` is a page of ours. Compares parsed origins, never string prefixes. */
export function isTrustedUrl(url: string | undefined | null, origins: readonly string[]): boolean {
  const o = originOf(url);
  return o !== null && origins.includes(o);
}

/**
 * will-navigate: the single-page app never navigates. Only a reload of the very same page is
 * allowed (same URL, ignoring the hash); anything else, ours or not, is refused.
 */
export function isAllowedNavigation(currentUrl: string, targetUrl: string): boolean {
  try {
    if (originOf(currentUrl) === null) return false;
    const a = new URL(currentUrl);
    const b = new URL(targetUrl);
    a.hash = '';
    b.hash = '';
    return a.href === b.href;
  } catch {
    return false;
  }
}

/** setWindowOpenHandler: no new windows, ever. */
export function windowOpenDecision(): { action: 'deny' } {
  return { action: 'deny' };
}

/** Permission requests (camera, notifications, geolocation, ...) and checks: always no. */
export function permissionDecision(_permission: string): false {
  return false;
}
