// Browser-mode transport: POST /api/<method> + a WebSocket for events, both guarded by the token
// that `mopro serve` printed in the page URL.
import type { ApiEvent, MethodInput, MethodName, MethodResult, MoproApi } from '@shared/contract';
import { ApiCallError, toApiError } from './errors';

export interface HttpApiOptions {
  base: string; //   origin (and path prefix, if any) of the server, no trailing slash
  token: string;
  /** For tests: a WebSocket constructor; defaults to the page's. */
  WebSocketImpl?: typeof WebSocket;
}

export function createHttpApi(opts: HttpApiOptions): MoproApi {
  const { base, token } = opts;
  const listeners = new Set<(e: ApiEvent) => void>();
  let socket: WebSocket | null = null;
  let retryMs = 250;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;

  function connect(): void {
    const WS = opts.WebSocketImpl ?? globalThis.WebSocket;
    if (!WS || socket) return;
    const url = new URL(`${base}/api/events`, globalThis.location?.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    const ws = new WS(url.toString());
    socket = ws;
    ws.onopen = () => (retryMs = 250);
    ws.onmessage = (m) => {
      let e: ApiEvent;
      try {
        e = JSON.parse(String(m.data)) as ApiEvent;
      } catch {
        return; // not ours; the server only sends JSON
      }
      for (const l of listeners) l(e);
    };
    ws.onclose = () => {
      socket = null;
      // Events are hints (progress, counters); state is re-read through calls, so a gap is harmless.
      if (listeners.size > 0 && !retryTimer) {
        retryTimer = setTimeout(() => {
          retryTimer = null;
          connect();
        }, retryMs);
        retryMs = Math.min(retryMs * 2, 5000);
      }
    };
  }

  return {
    async call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodResult<M>> {
      let res: Response;
      try {
        res = await fetch(`${base}/api/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-mopro-token': token },
          body: JSON.stringify(input ?? {}),
        });
      } catch (err) {
        throw toApiError(err);
      }
      const text = await res.text();
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = null;
      }
      if (!res.ok) {
        const b = (body ?? {}) as { code?: string; message?: string };
        if (res.status === 401 || res.status === 403) {
          if (!b.code)
            throw new ApiCallError(
              'FORBIDDEN',
              'The server refused the token: open the URL that `mopro serve` printed.',
            );
        }
        throw toApiError({ code: b.code ?? 'INTERNAL', message: b.message ?? `${method} failed (HTTP ${res.status})` });
      }
      return body as MethodResult<M>;
    },
    on(listener) {
      listeners.add(listener);
      connect();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && socket) {
          const s = socket;
          socket = null;
          s.onclose = null;
          s.close();
        }
      };
    },
    imageUrl(projectId, relPath, kind) {
      const q = new URLSearchParams({ project: projectId, path: relPath, kind, token });
      return `${base}/api/image?${q.toString()}`;
    },
  };
}
