// Browser-mode server: token, loopback bind, hostile requests. Every refusal must be a clean 4xx
// JSON {code, message}, and the server must still answer a good request afterwards.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type RunningServer } from './server';
import { makeDataset, syntheticRows, tinyPng, writeProjectRun } from '../../tests/fixtures/project';
import { projectIdFor } from '../project/project';

let base: string, root: string, srv: RunningServer, projectId: string;
const secret = 'SECRET-OUTSIDE-FILE';

/**
 * Raw HTTP (fetch normalises paths and forbids some headers; attackers do not). One connection per request: a pooled
 * keep-alive socket that the server closes after its idle timeout can race the next request on a loaded machine and
 * fail it with "socket hang up", which says nothing about the server.
 */
function raw(
  method: string,
  pathAndQuery: string,
  headers: Record<string, string | number> = {},
  body?: string | Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent: false,
        host: '127.0.0.1',
        port: srv.port,
        method,
        path: pathAndQuery,
        headers: { host: `127.0.0.1:${srv.port}`, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}
const api = (method: string, input: unknown, extra: Record<string, string> = {}) =>
  raw(
    'POST',
    `/api/${method}`,
    { 'content-type': 'application/json', 'x-mopro-token': srv.token, ...extra },
    JSON.stringify(input),
  );
const stillServes = async () => {
  const r = await api('projects.get', { projectId });
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body).id).toBe(projectId);
};
const cleanError = (r: { status: number; body: string }, status: number) => {
  expect(r.status).toBe(status);
  const j = JSON.parse(r.body);
  expect(typeof j.code).toBe('string');
  expect(typeof j.message).toBe('string');
  expect(r.body).not.toContain(secret);
};

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-server-'));
  root = path.join(base, 'ds');
  const files = await makeDataset(root, ['a', 'b'], 4);
  fs.writeFileSync(path.join(base, 'outside.png'), Buffer.concat([await tinyPng(9), Buffer.from(secret)]));
  fs.writeFileSync(path.join(base, 'secret.txt'), secret);
  fs.symlinkSync(path.join(base, 'outside.png'), path.join(root, 'a', 'evil.png')); // symlink out of the dataset
  const dataDir = path.join(base, 'data');
  writeProjectRun(dataDir, projectIdFor(root), 'r1', root, ['a', 'b'], syntheticRows(files, ['a', 'b'], 2));
  const staticDir = path.join(base, 'static');
  fs.mkdirSync(staticDir);
  fs.writeFileSync(
    path.join(staticDir, 'index.html'),
    '<!doctype html><html><head><title>x</title></head><body>app</body></html>',
  );
  fs.writeFileSync(path.join(staticDir, 'app.js'), 'console.log(1)');
  srv = await startServer({
    dataset: root,
    dataDir,
    cacheDir: path.join(base, 'cache'),
    staticDir,
    maxBodyBytes: 64 * 1024,
  });
  projectId = srv.projectId!;
});
afterAll(async () => {
  await srv?.close();
  fs.rmSync(base, { recursive: true, force: true });
});

describe('server: basics', () => {
  const canConnect = (host: string, port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  const externalV4 = Object.values(os.networkInterfaces())
    .flat()
    .filter((i) => i && i.family === 'IPv4' && !i.internal)
    .map((i) => i!.address);
  const hasV6Loopback = Object.values(os.networkInterfaces())
    .flat()
    .some((i) => i && i.family === 'IPv6' && i.address === '::1');

  it('prints a URL on 127.0.0.1 with the token', () => {
    expect(srv.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${srv.port}/\\?token=`));
  });

  // A server bound to every address (`::`, Node's default when no host is given) answers on ::1 too; one bound to
  // 127.0.0.1 does not. A bind to 0.0.0.0 is caught by the non-loopback check below.
  it.skipIf(!hasV6Loopback)(
    'is not reachable on the IPv6 loopback (bound to 127.0.0.1, not to every address)',
    async () => {
      expect(await canConnect('127.0.0.1', srv.port)).toBe(true);
      expect(await canConnect('::1', srv.port)).toBe(false);
    },
  );

  // Only meaningful where the machine has a non-loopback interface; elsewhere it is reported as skipped, not passed.
  it.skipIf(!externalV4.length)('refuses connections on every non-loopback IPv4 interface', async () => {
    for (const addr of externalV4) expect([addr, await canConnect(addr, srv.port)]).toEqual([addr, false]);
  });

  it('serves the API with the token, JSON in and out', async () => {
    const r = await api('samples.query', { projectId, limit: 2 });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).total).toBe(8);
  });

  it('serves the renderer with a CSP; the token is injected only when the URL already carries it', async () => {
    for (const q of ['/', '/?token=wrong', `/?token=${srv.token.slice(0, -1)}`]) {
      const no = await raw('GET', q); // a reload after the page hid the token: same page, no secret in it
      expect(no.status).toBe(200);
      expect(no.body).toContain('app');
      expect(no.body).not.toContain(srv.token);
      expect(no.body).not.toContain('mopro-token');
    }
    const yes = await raw('GET', `/?token=${srv.token}`);
    expect(yes.status).toBe(200);
    expect(yes.body).toContain(`<meta name="mopro-token" content="${srv.token}">`);
    expect(yes.headers['content-security-policy']).toMatch(
      /default-src 'none'; script-src 'self'.*connect-src 'self' ws:\/\/127\.0\.0\.1:/,
    );
    expect((await raw('GET', '/app.js')).body).toBe('console.log(1)');
    cleanError(await raw('GET', '/../secret.txt'), 404);
    cleanError(await raw('GET', '/%2e%2e/secret.txt'), 404);
  });

  it('streams events over the WebSocket (token required)', async () => {
    const bad = new WebSocket(`ws://127.0.0.1:${srv.port}/api/events?token=wrong`);
    const badResult = await new Promise<string>((resolve) => {
      bad.on('error', (e) => resolve(String(e.message)));
      bad.on('open', () => resolve('open'));
    });
    expect(badResult).toMatch(/401/);
    const evil = new WebSocket(`ws://127.0.0.1:${srv.port}/api/events?token=${srv.token}`, {
      origin: 'http://evil.example',
    });
    expect(
      await new Promise<string>((resolve) => {
        evil.on('error', (e) => resolve(e.message));
        evil.on('open', () => resolve('open'));
      }),
    ).toMatch(/403/);
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/api/events?token=${srv.token}`);
    await new Promise((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    const got = new Promise<unknown>((resolve) => ws.on('message', (m) => resolve(JSON.parse(String(m)))));
    expect((await api('decisions.apply', { projectId, ids: [0], action: { kind: 'keep' } })).status).toBe(200);
    expect(await got).toMatchObject({ type: 'decisions.changed', projectId, reviewed: 1 });
    ws.close();
  });
});

describe('server: hostile requests', () => {
  it('wrong or missing token -> 401 on every API route', async () => {
    cleanError(
      await raw('POST', '/api/projects.get', { 'content-type': 'application/json' }, JSON.stringify({ projectId })),
      401,
    );
    cleanError(
      await raw(
        'POST',
        '/api/projects.get',
        {
          'content-type': 'application/json',
          // wrong by construction: a random token may itself start with 'x'
          'x-mopro-token': (srv.token[0] === 'x' ? 'y' : 'x') + srv.token.slice(1),
        },
        '{}',
      ),
      401,
    );
    cleanError(
      await raw(
        'POST',
        '/api/projects.get',
        { 'content-type': 'application/json', 'x-mopro-token': srv.token + 'x' },
        '{}',
      ),
      401,
    );
    cleanError(await raw('GET', `/api/image?project=${projectId}&path=a/a_0000.png&kind=full`), 401);
    cleanError(await raw('GET', `/api/image?project=${projectId}&path=a/a_0000.png&kind=full&token=`), 401);
    await stillServes();
  });

  it('cross-origin and foreign Host -> 403 (no CORS, no DNS rebinding)', async () => {
    const evil = await api('projects.get', { projectId }, { origin: 'http://evil.example' });
    cleanError(evil, 403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    cleanError(await api('projects.get', { projectId }, { origin: 'null' }), 403);
    cleanError(await api('projects.get', { projectId }, { origin: `http://127.0.0.1:${srv.port + 1}` }), 403);
    cleanError(await api('projects.get', { projectId }, { 'sec-fetch-site': 'cross-site' }), 403);
    cleanError(await api('projects.get', { projectId }, { host: `evil.example:${srv.port}` }), 403);
    const pre = await raw('OPTIONS', '/api/projects.get', {
      origin: 'http://evil.example',
      'access-control-request-method': 'POST',
    });
    expect(pre.status).toBe(403);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    expect((await api('projects.get', { projectId }, { origin: srv.origin })).status).toBe(200);
    await stillServes();
  });

  it('oversized body -> 413, malformed JSON -> 400, wrong content type -> 415, unknown method -> 404, bad input -> 400', async () => {
    const big = JSON.stringify({ projectId, pad: 'x'.repeat(200 * 1024) });
    cleanError(
      await raw('POST', '/api/projects.get', { 'content-type': 'application/json', 'x-mopro-token': srv.token }, big),
      413,
    );
    cleanError(
      await raw(
        'POST',
        '/api/projects.get',
        { 'content-type': 'application/json', 'x-mopro-token': srv.token, 'transfer-encoding': 'chunked' },
        big,
      ),
      413,
    );
    for (const body of ['{', '{"projectId":', 'nul', '\u0000\u0001', '{"a":1}}']) {
      cleanError(
        await raw(
          'POST',
          '/api/projects.get',
          { 'content-type': 'application/json', 'x-mopro-token': srv.token },
          body,
        ),
        400,
      );
    }
    cleanError(
      await raw('POST', '/api/projects.get', { 'content-type': 'text/plain', 'x-mopro-token': srv.token }, '{}'),
      415,
    );
    cleanError(await api('no.such.method', {}), 404);
    cleanError(await api('constructor', {}), 404);
    cleanError(await api('projects.get', { projectId: 42 }), 400);
    cleanError(await api('samples.get', { projectId, id: 1e9 }), 404);
    cleanError(await raw('GET', '/api/nothing-here', { 'x-mopro-token': srv.token }), 404);
    await stillServes();
  });

  it('image route: traversal fuzz (.., absolute, encoded, double-encoded, backslashes, symlink out) never leaks a byte', async () => {
    const ok = await raw('GET', `/api/image?project=${projectId}&path=a%2Fa_0000.png&kind=full&token=${srv.token}`);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('image/png');
    const thumb = await raw('GET', `/api/image?project=${projectId}&path=a/a_0001.png&kind=thumb&token=${srv.token}`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/webp');
    const outside = path.join(base, 'secret.txt');
    const attacks = [
      '../secret.txt',
      '../../secret.txt',
      'a/../../secret.txt',
      '..%2fsecret.txt',
      '%2e%2e/secret.txt',
      '%2e%2e%2fsecret.txt',
      '%252e%252e%252fsecret.txt',
      '..%252fsecret.txt',
      '%2E%2E/secret.txt',
      encodeURIComponent(outside),
      outside,
      `/${outside}`,
      '..\\secret.txt',
      'a\\..\\..\\secret.txt',
      '..%5csecret.txt',
      '%5c..%5csecret.txt',
      'a/evil.png',
      'a%2fevil.png',
      'a/./a_0000.png',
      'a//a_0000.png',
      '%00',
      'a/a_0000.png%00.txt',
      '~/secret.txt',
      'file:///etc/passwd',
      '/etc/passwd',
      '....//secret.txt',
      '.../secret.txt',
      'C:\\Windows\\win.ini',
      '\\\\server\\share\\x.png',
      '%c0%ae%c0%ae/secret.txt',
    ];
    for (const p of attacks) {
      for (const kind of ['full', 'thumb']) {
        const r = await raw(
          'GET',
          `/api/image?project=${projectId}&path=${p.replace(/[#&? ]/g, encodeURIComponent)}&kind=${kind}&token=${srv.token}`,
        );
        expect([p, kind, r.status >= 400 && r.status < 500]).toEqual([p, kind, true]);
        expect(r.body).not.toContain(secret);
        expect(() => JSON.parse(r.body)).not.toThrow();
      }
    }
    cleanError(
      await raw('GET', `/api/image?project=..%2F..%2Fetc&path=a/a_0000.png&kind=full&token=${srv.token}`),
      404,
    );
    cleanError(
      await raw('GET', `/api/image?project=${projectId}&path=a/a_0000.png&kind=../../x&token=${srv.token}`),
      400,
    );
    console.log(`image route: ${attacks.length * 2} hostile paths tried, all refused`);
    await stillServes();
  });

  it('a burst of garbage does not take the server down', async () => {
    const sock = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1', () => resolve(s));
    });
    sock.on('error', () => {
      /* the server may cut us off */
    });
    sock.write('GARBAGE / HTTP/9.9\r\n\r\n\u0000\u0001\u0002');
    sock.destroy();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        raw(
          'POST',
          `/api/${i % 2 ? 'x' : 'projects.get'}`,
          { 'content-type': 'application/json', 'x-mopro-token': srv.token },
          '{"bad',
        ),
      ),
    );
    await stillServes();
  });
});
