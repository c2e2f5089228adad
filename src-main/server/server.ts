// Browser mode: the API of contract.ts over HTTP + WebSocket on 127.0.0.1 (design.md §6).
//   POST /api/<method>        JSON body -> JSON result; errors are 4xx/5xx JSON {code, message}
//   GET  /api/image?project=&path=&kind=thumb|full&token=
//   WS   /api/events?token=   ApiEvents as JSON text frames
//   GET  /?token=...          the built renderer (out/renderer), token injected as <meta name="mopro-token">
// Every /api request needs the token (header x-mopro-token, or ?token= where a browser cannot set
// headers: <img> and WebSocket). Host and Origin must be this server's own (no CORS, no DNS rebinding).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { serve, type ServerType } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { WebSocketServer, type WebSocket } from 'ws';
import { contentSecurityPolicy } from '../../src-shared/csp';
import type { ApiEvent, ApiErrorShape } from '../../src-shared/contract';
import { ApiError, type ApiService } from '../api/service-types';
import { createService } from '../api/service';
import type { Scanner } from '../project/project';
import { appDataDir, appRoot, cacheDir } from '../paths';

export interface StartServerOptions {
  port?: number;
  dataset?: string;
  token?: string;
  staticDir?: string;
  /** Default appDataDir() / cacheDir() (env MOPRO_DATA_DIR / MOPRO_CACHE_DIR). */
  dataDir?: string;
  cacheDir?: string;
  /** Request body limit in bytes (default 4 MiB: fits decisions.apply's 200k ids). */
  maxBodyBytes?: number;
  scanner?: Scanner;
}

export interface RunningServer {
  url: string; //            http://127.0.0.1:PORT/?token=...  (add &project=ID when a dataset was opened)
  origin: string; //         http://127.0.0.1:PORT
  token: string;
  port: number;
  projectId: string | null; // the project of opts.dataset, when given
  close(): Promise<void>;
}

const STATUS: Record<ApiErrorShape['code'], 400 | 403 | 404 | 409 | 500 | 503> = {
  BAD_INPUT: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};
const DEFAULT_MAX_BODY = 4 * 1024 * 1024;

function tokenOk(expected: Buffer, given: string | undefined | null): boolean {
  if (!given) return false;
  const g = Buffer.from(given);
  return g.length === expected.length && crypto.timingSafeEqual(g, expected);
}

export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  const token = opts.token ?? crypto.randomBytes(24).toString('base64url');
  const tokenBuf = Buffer.from(token);
  const sockets = new Set<WebSocket>();
  const broadcast = (e: ApiEvent): void => {
    const msg = JSON.stringify(e);
    for (const s of sockets) if (s.readyState === s.OPEN) s.send(msg);
  };
  const service: ApiService = createService({
    mode: 'browser',
    dataDir: opts.dataDir ?? appDataDir(),
    cacheDir: opts.cacheDir ?? cacheDir(),
    emit: broadcast,
    scanner: opts.scanner,
  });
  const staticDir = opts.staticDir ?? path.join(appRoot(), 'out', 'renderer');

  let port = 0;
  const hosts = new Set<string>();
  const origins = new Set<string>();

  const fail = (
    c: Context,
    status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 426 | 500 | 503,
    code: ApiErrorShape['code'],
    message: string,
  ) => c.json({ code, message } satisfies ApiErrorShape, status);

  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof ApiError) return fail(c, STATUS[err.code], err.code, err.message);
    return fail(c, 500, 'INTERNAL', String(err?.message ?? err).split('\n')[0]);
  });
  app.notFound((c) =>
    fail(c, 404, 'NOT_FOUND', `no route ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`),
  );

  // Same-origin only: a page on another origin (or a rebinding DNS name) gets nothing.
  app.use('*', async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (!hosts.has(host))
      return fail(c, 403, 'FORBIDDEN', 'Host header is not this server (127.0.0.1 / localhost only)');
    const origin = c.req.header('origin');
    if (origin !== undefined && !origins.has(origin))
      return fail(c, 403, 'FORBIDDEN', 'cross-origin requests are refused');
    const site = c.req.header('sec-fetch-site');
    if (site && site !== 'same-origin' && site !== 'none')
      return fail(c, 403, 'FORBIDDEN', 'cross-site requests are refused');
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
    c.header('X-Frame-Options', 'DENY');
  });

  app.use('/api/*', async (c, next) => {
    if (!tokenOk(tokenBuf, c.req.header('x-mopro-token') ?? c.req.query('token'))) {
      return fail(c, 401, 'FORBIDDEN', 'missing or wrong token: open the URL printed by `mopro serve`');
    }
    await next();
  });

  app.get('/api/events', (c) => fail(c, 426, 'BAD_INPUT', 'this route is a WebSocket: connect with ws://'));

  app.get('/api/image', async (c) => {
    const project = c.req.query('project') ?? '';
    const rel = c.req.query('path') ?? '';
    const kind = c.req.query('kind') ?? 'thumb';
    if (kind !== 'thumb' && kind !== 'full') return fail(c, 400, 'BAD_INPUT', 'kind must be thumb or full');
    const img = await service.image(project, rel, kind);
    const body = await fs.promises.readFile(img.file);
    return c.body(body, 200, {
      'Content-Type': img.mime,
      'Cache-Control': 'private, max-age=3600',
      'Content-Security-Policy': "default-src 'none'; sandbox",
    });
  });

  app.post(
    '/api/:method',
    bodyLimit({
      maxSize: opts.maxBodyBytes ?? DEFAULT_MAX_BODY,
      onError: (c) => fail(c, 413, 'BAD_INPUT', `request body over ${opts.maxBodyBytes ?? DEFAULT_MAX_BODY} bytes`),
    }),
    async (c) => {
      const ct = c.req.header('content-type') ?? '';
      if (!/^application\/json\b/i.test(ct)) return fail(c, 415, 'BAD_INPUT', 'Content-Type must be application/json');
      let input: unknown;
      const text = await c.req.text();
      try {
        input = text.trim() ? JSON.parse(text) : {};
      } catch {
        return fail(c, 400, 'BAD_INPUT', 'request body is not valid JSON');
      }
      const result = await service.call(c.req.param('method'), input);
      return c.json(result ?? null);
    },
  );

  app.all('/api/*', (c) => fail(c, 404, 'NOT_FOUND', 'unknown API route'));

  // The renderer. The token goes into index.html only when the request already carries it, so
  // nobody learns it from '/'; a reload (token stripped from the address bar, kept in the tab's
  // sessionStorage by the page) gets the same page without it.
  const indexFile = path.join(staticDir, 'index.html');
  const sendIndex = (c: Context) => {
    const withToken = tokenOk(tokenBuf, c.req.query('token'));
    let html: string;
    try {
      html = fs.readFileSync(indexFile, 'utf8');
    } catch {
      return c.html(
        `<!doctype html><meta charset="utf-8"><title>MoPro Studio</title><p>The UI is not built: run <code>npm run build</code> (looked in ${staticDir}). The API is up.</p>`,
        503 as 500,
      );
    }
    if (withToken) {
      const meta = `<meta name="mopro-token" content="${token}">`;
      html = html.includes('<head>') ? html.replace('<head>', `<head>${meta}`) : meta + html;
    }
    c.header('Cache-Control', 'no-store');
    // The shared renderer policy plus this server's WebSocket origin.
    c.header(
      'Content-Security-Policy',
      contentSecurityPolicy({ connect: [`ws://127.0.0.1:${port}`, `ws://localhost:${port}`] }),
    );
    return c.html(html);
  };
  app.get('/', sendIndex);
  app.get('/index.html', sendIndex);
  app.get('/*', serveStatic({ root: path.relative(process.cwd(), staticDir) || '.' }));

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: opts.port ?? 0 }, () => resolve(s));
    s.once('error', reject);
  });
  port = (server.address() as AddressInfo).port;
  for (const h of ['127.0.0.1', 'localhost']) {
    hosts.add(`${h}:${port}`);
    origins.add(`http://${h}:${port}`);
  }
  const origin = `http://127.0.0.1:${port}`;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      return refuse('400 Bad Request');
    }
    if (url.pathname !== '/api/events') return refuse('404 Not Found');
    if (!hosts.has(req.headers.host ?? '')) return refuse('403 Forbidden');
    if (req.headers.origin !== undefined && !origins.has(req.headers.origin)) return refuse('403 Forbidden');
    if (!tokenOk(tokenBuf, url.searchParams.get('token') ?? (req.headers['x-mopro-token'] as string | undefined)))
      return refuse('401 Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('error', () => sockets.delete(ws));
    });
  });

  let projectId: string | null = null;
  if (opts.dataset) {
    const summary = (await service.call('projects.open', { path: path.resolve(opts.dataset) })) as { id: string };
    projectId = summary.id;
  }

  return {
    url: `${origin}/?token=${encodeURIComponent(token)}${projectId ? `&project=${encodeURIComponent(projectId)}` : ''}`,
    origin,
    token,
    port,
    projectId,
    async close() {
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await service.dispose();
    },
  };
}
