// Request handlers for the two custom schemes, written against the WHATWG Request/Response that
// Electron's protocol.handle uses (and Node has built in), so they are tested without Electron.
//   mopro-img://  dataset images + thumbnails, only what ApiService.image() allows
//   mopro-app://  the built renderer (out/renderer), with the CSP header on every response
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ApiError, type ApiService } from '../api/service-types';
import { BadImageUrl, parseImageUrl, relPathProblem } from './image-url';

type Handler = (req: Request) => Promise<Response>;
type Log = (msg: string) => void;

const COMMON_HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };

function refuse(status: number, why: string): Response {
  return new Response(why, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...COMMON_HEADERS } });
}

function fileResponse(file: string, headers: Record<string, string>): Response {
  // A stream, not readFile: full-size images can be large and many thumbnails load at once.
  const body = Readable.toWeb(fs.createReadStream(file)) as unknown as ReadableStream<Uint8Array>;
  return new Response(body, { status: 200, headers: { ...COMMON_HEADERS, ...headers } });
}

/** mopro-img:// handler. Lexical checks here, then the service's realpath/prefix checks. */
export function createImageHandler(service: Pick<ApiService, 'image'>, log: Log = () => {}): Handler {
  return async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'method not allowed');
    let parsed;
    try {
      parsed = parseImageUrl(req.url);
    } catch (e) {
      if (e instanceof BadImageUrl) {
        log(`image request refused (${e.message}): ${req.url.slice(0, 300)}`);
        return refuse(403, `forbidden: ${e.message}`);
      }
      throw e;
    }
    try {
      const img = await service.image(parsed.projectId, parsed.relPath, parsed.kind);
      const stat = await fs.promises.stat(img.file);
      if (!stat.isFile()) return refuse(404, 'not found');
      return fileResponse(img.file, { 'content-type': img.mime, 'content-length': String(stat.size) });
    } catch (e) {
      if (e instanceof ApiError) {
        const status = e.code === 'FORBIDDEN' ? 403 : e.code === 'NOT_FOUND' ? 404 : e.code === 'BAD_INPUT' ? 400 : 500;
        if (status === 403) log(`image request refused by service: ${e.message}`);
        return refuse(status, e.code.toLowerCase());
      }
      if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') return refuse(404, 'not found');
      log(`image request failed: ${(e as Error)?.message ?? e}`);
      return refuse(500, 'internal error');
    }
  };
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** Is `child` (already realpath'd) inside `root` (already realpath'd)? */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * mopro-app:// handler serving `rootDir` (out/renderer). Same lexical path rules as images, then
 * realpath containment (a symlink inside the build pointing out is refused). Every response
 * carries the CSP, so the policy holds even if index.html has no <meta> CSP.
 */
export function createAppFileHandler(rootDir: string, csp: string, log: Log = () => {}): Handler {
  let realRoot: string | null = null;
  return async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'method not allowed');
    let u: URL;
    try {
      u = new URL(req.url);
    } catch {
      return refuse(400, 'bad url');
    }
    let rel: string;
    try {
      rel = decodeURIComponent(u.pathname).replace(/^\//, '');
    } catch {
      return refuse(400, 'bad url encoding');
    }
    if (rel === '') rel = 'index.html';
    const problem = relPathProblem(rel);
    if (problem) {
      log(`app file refused (${problem}): ${req.url.slice(0, 300)}`);
      return refuse(403, `forbidden: ${problem}`);
    }
    try {
      realRoot ??= await fs.promises.realpath(rootDir);
      const real = await fs.promises.realpath(path.join(realRoot, ...rel.split('/')));
      if (!isInside(realRoot, real)) {
        log(`app file refused (outside the renderer build): ${rel}`);
        return refuse(403, 'forbidden');
      }
      const stat = await fs.promises.stat(real);
      if (!stat.isFile()) return refuse(404, 'not found');
      const type = MIME[path.extname(real).toLowerCase()] ?? 'application/octet-stream';
      return fileResponse(real, {
        'content-type': type,
        'content-length': String(stat.size),
        'content-security-policy': csp,
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') return refuse(404, 'not found');
      log(`app file failed: ${(e as Error)?.message ?? e}`);
      return refuse(500, 'internal error');
    }
  };
}
