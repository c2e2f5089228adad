// Reliability: hostile requests: a GENERATED list of attacks on the browser-mode HTTP API and image
// route (traversal in every spelling, absolute paths, NUL, overlong paths, symlinks out, oversized
// and malformed bodies, wrong/missing token, foreign Origin/Host, every API method with wrong-typed
// arguments, hostile export targets). Each must get a clean 4xx (never 5xx, never a 2xx for an
// attack), no byte of a secret file outside the dataset may ever be served, and a good request must
// still succeed after every single attack. src-main/server/server-http.test.ts holds the hand-written
// basics; this file is the combinatorial sweep.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src-main/server/server';
import { makeDataset, syntheticRows, tinyPng, writeProjectRun } from '../fixtures/project';
import { projectIdFor } from '../../src-main/project/project';
import { methods } from '../../src-shared/contract';

let base: string, root: string, srv: RunningServer, projectId: string;
const SECRET = `SECRET-${process.pid}-${Date.now()}-DO-NOT-SERVE`;
const MAX_BODY = 64 * 1024;
const stats = { requests: 0, refused: 0, fiveXX: 0 };
const failures: string[] = [];

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}
function raw(
  method: string,
  pathAndQuery: string,
  headers: Record<string, string | number> = {},
  body?: string | Buffer,
): Promise<Res> {
  stats.requests++;
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      // agent: false: a fresh connection per request, so a connection the server closed after a refusal
      // (413) is never reused for the next request.
      req = http.request(
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
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('latin1'),
            }),
          );
          res.on('error', () => resolve({ status: -1, headers: {}, body: '' }));
        },
      );
    } catch (e) {
      // Node's client refuses some requests itself (e.g. a raw NUL or newline in the path): that
      // request cannot reach any server through a conforming client; counted as refused.
      resolve({ status: 400, headers: {}, body: `client refused: ${(e as Error).message}` });
      return;
    }
    // The server may answer 413 and close before the whole body is sent: that is a refusal.
    req.on('error', (e) => resolve({ status: -2, headers: {}, body: String(e.message) }));
    req.on('socket', (sock) =>
      sock.on('error', () => {
        /* reported through req's error */
      }),
    );
    // A request the server never answers is a failure (a hang is a denial of service), not a test hang.
    req.setTimeout(5000, () => {
      req.destroy();
      resolve({ status: -3, headers: {}, body: 'no answer within 5 s' });
    });
    if (body !== undefined) req.end(body);
    else req.end();
  });
}
const json = (method: string, input: unknown, extra: Record<string, string> = {}) =>
  raw(
    'POST',
    `/api/${method}`,
    { 'content-type': 'application/json', 'x-mopro-token': srv.token, ...extra },
    typeof input === 'string' ? input : JSON.stringify(input),
  );

/** One attack: must be a clean 4xx without the secret; then a good request must still work. */
async function attack(label: string, r: Promise<Res>, allow2xx = false): Promise<void> {
  if (process.env.REL_DEBUG) process.stderr.write(`attack ${label}\n`);
  const res = await r;
  const clean4xx = res.status >= 400 && res.status < 500;
  // EPIPE/ECONNRESET while we were still sending an oversized body: the server refused early.
  const cutOff = res.status === -2 && /EPIPE|ECONNRESET|socket hang up/.test(res.body);
  if (res.status >= 500) stats.fiveXX++;
  if (!(clean4xx || cutOff || (allow2xx && res.status < 300)))
    failures.push(`${label}: HTTP ${res.status} ${res.body.slice(0, 160)}`);
  if (res.body.includes(SECRET)) failures.push(`${label}: LEAKED the secret`);
  if (clean4xx && res.body && /json/.test(String(res.headers['content-type']))) {
    const j = JSON.parse(res.body);
    if (typeof j.code !== 'string' || typeof j.message !== 'string' || j.message.includes('\n'))
      failures.push(`${label}: error body not {code, message} one line`);
  }
  if (clean4xx || cutOff) stats.refused++;
  const good = await json('projects.get', { projectId });
  if (good.status !== 200) failures.push(`after ${label}: good request got HTTP ${good.status}`);
}

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-rel-http-'));
  root = path.join(base, 'ds');
  const files = await makeDataset(root, ['a', 'b'], 4);
  fs.writeFileSync(path.join(base, 'secret.txt'), SECRET);
  fs.writeFileSync(path.join(base, 'outside.png'), Buffer.concat([await tinyPng(200), Buffer.from(SECRET)]));
  fs.mkdirSync(path.join(base, 'outdir'));
  fs.writeFileSync(path.join(base, 'outdir', 'x.png'), Buffer.concat([await tinyPng(201), Buffer.from(SECRET)]));
  fs.symlinkSync(path.join(base, 'outside.png'), path.join(root, 'a', 'evil.png')); //   file symlink out
  fs.symlinkSync(path.join(base, 'outdir'), path.join(root, 'b', 'outdir')); //          folder symlink out
  fs.symlinkSync('../../secret.txt', path.join(root, 'a', 'rel-evil.png')); //           relative symlink out
  const dataDir = path.join(base, 'data');
  writeProjectRun(dataDir, projectIdFor(root), 'r1', root, ['a', 'b'], syntheticRows(files, ['a', 'b'], 3));
  const staticDir = path.join(base, 'static');
  fs.mkdirSync(staticDir);
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><html><head></head><body>app</body></html>');
  srv = await startServer({
    dataset: root,
    dataDir,
    cacheDir: path.join(base, 'cache'),
    staticDir,
    maxBodyBytes: MAX_BODY,
  });
  projectId = srv.projectId!;
});
// Each test owns its failures: one bad case must not fail the tests after it.
let totalFailures = 0;
beforeEach(() => {
  totalFailures += failures.length;
  failures.length = 0;
});
afterAll(async () => {
  totalFailures += failures.length;
  await srv?.close();
  fs.rmSync(base, { recursive: true, force: true });
  console.log(
    `server-hostile-http summary: requests tried ${stats.requests}, refused cleanly ${stats.refused}, 5xx ${stats.fiveXX}, failures ${totalFailures}`,
  );
});

/** Every traversal spelling we know, combined with separators, depths and targets. */
function traversalPaths(): string[] {
  const dots = [
    '..',
    '%2e%2e',
    '%2E%2E',
    '.%2e',
    '%2e.',
    '%252e%252e',
    '%c0%ae%c0%ae',
    '%uff0e%uff0e',
    '..%00',
    '...',
    '....',
  ];
  const seps = ['/', '\\', '%2f', '%2F', '%5c', '%252f', '%255c', '//', '/./', '%c0%af'];
  const targets = ['secret.txt', 'outside.png', 'outdir/x.png', '.'];
  const out = new Set<string>();
  for (const d of dots)
    for (const s of seps)
      for (const depth of [1, 2, 3])
        for (const t of targets) {
          out.add(`${`${d}${s}`.repeat(depth)}${t}`);
          out.add(`a${s}${`${d}${s}`.repeat(depth)}${t}`);
        }
  const abs = [
    path.join(base, 'secret.txt'),
    path.join(base, 'outside.png'),
    '/etc/passwd',
    '/proc/self/environ',
    '/proc/self/cmdline',
  ];
  for (const a of abs) {
    out.add(a);
    out.add(encodeURIComponent(a));
    out.add(`/${a}`);
    out.add(`file://${a}`);
    out.add(`a/${a}`);
    out.add(a.replace(/\//g, '\\'));
  }
  for (const p of [
    'a/evil.png',
    'a/rel-evil.png',
    'b/outdir/x.png',
    'b/outdir',
    'b%2foutdir%2fx.png',
    'C:\\Windows\\win.ini',
    'C:/Windows/win.ini',
    '\\\\?\\C:\\x',
    '\\\\server\\share\\x.png',
    '~/.ssh/id_rsa',
    '~root/x',
    'a/a_0000.png%00.txt',
    'a/a_0000.png\u0000',
    '%00',
    'a/%00/../secret.txt',
    'a/\u202e.png',
    'a/a_0000.png/..',
    'a/a_0000.png/../../secret.txt',
    ' ../secret.txt',
    '../secret.txt ',
    '.',
    '..',
    '/',
    '',
    'a',
    'a/',
  ])
    out.add(p);
  out.add(`a/${'x'.repeat(300)}.png`);
  out.add(`${'../'.repeat(2000)}etc/passwd`); // overlong
  out.add(`a/${'y/'.repeat(1500)}z.png`);
  return [...out];
}

describe('hostile HTTP: generated sweep', () => {
  it('the image route refuses every traversal / absolute / encoded / NUL / overlong / symlink-out path', async () => {
    const list = traversalPaths();
    for (const p of list) {
      // Written into the query as the attacker would, only '&', '#', '?', space and raw control chars escaped
      // so that the request line itself is valid HTTP.

      const q = p.replace(/[#&? +\u0000-\u001f\u007f-\uffff]/g, (c) => encodeURIComponent(c));
      for (const kind of ['full', 'thumb'])
        await attack(
          `image ${kind} ${JSON.stringify(p).slice(0, 80)}`,
          raw('GET', `/api/image?project=${projectId}&kind=${kind}&token=${srv.token}&path=${q}`),
        );
    }
    for (const pj of ['..', '../..', '%2e%2e%2f', '/etc', 'x'.repeat(5000), '', projectId + '/..', projectId + '%00']) {
      await attack(
        `image project=${pj.slice(0, 40)}`,
        raw('GET', `/api/image?project=${encodeURIComponent(pj)}&path=a/a_0000.png&kind=full&token=${srv.token}`),
      );
    }
    for (const kind of ['', 'FULL', '../full', 'full%00', 'thumb/../../x', 'raw']) {
      await attack(
        `image kind=${kind}`,
        raw(
          'GET',
          `/api/image?project=${projectId}&path=a/a_0000.png&kind=${encodeURIComponent(kind)}&token=${srv.token}`,
        ),
      );
    }
    // Path traversal on the static route and the URL path itself.
    for (const u of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/%252e%252e/secret.txt',
      '//../secret.txt',
      '/api/../../secret.txt',
      '/api/%2e%2e/%2e%2e/secret.txt',
      `/${path.join(base, 'secret.txt')}`,
      `//${path.join(base, 'secret.txt')}`,
      '/.%2e/.%2e/secret.txt',
    ]) {
      await attack(`static ${u}`, raw('GET', u));
    }
    expect(failures).toEqual([]);
    console.log(`hostile image/static paths: ${list.length * 2 + 8 + 6 + 11} tried`);
  }, 120_000);

  it('token: missing, empty, wrong, truncated, padded, wrong case, wrong place -> 401 on every route', async () => {
    const t = srv.token;
    // Every variant must differ from the real token by construction (a random token may start with 'x').
    const otherFirst = t[0] === 'x' ? 'y' : 'x';
    const bad = [
      '',
      'x',
      t.slice(0, -1),
      `${t}x`,
      `${otherFirst}${t.slice(1)}`,
      t.toUpperCase() === t ? t.toLowerCase() : t.toUpperCase(),
      ` ${t}`,
      `${t}\u0000`,
      'null',
      'undefined',
      t.repeat(50),
    ].filter((b) => b !== t);
    expect(bad.length).toBeGreaterThanOrEqual(10);
    for (const m of Object.keys(methods)) {
      await attack(
        `${m} no token`,
        raw('POST', `/api/${m}`, { 'content-type': 'application/json' }, JSON.stringify({ projectId })),
      );
      for (const b of bad) {
        const hdr = /[\u0000 ]/.test(b) ? { 'x-mopro-token': encodeURIComponent(b) } : { 'x-mopro-token': b };
        await attack(
          `${m} token ${JSON.stringify(b).slice(0, 20)}`,
          raw('POST', `/api/${m}`, { 'content-type': 'application/json', ...hdr }, JSON.stringify({ projectId })),
        );
      }
      await attack(
        `${m} token as bearer`,
        raw(
          'POST',
          `/api/${m}`,
          { 'content-type': 'application/json', authorization: `Bearer ${t}` },
          JSON.stringify({ projectId }),
        ),
      );
      await attack(
        `${m} token in cookie`,
        raw(
          'POST',
          `/api/${m}`,
          { 'content-type': 'application/json', cookie: `token=${t}` },
          JSON.stringify({ projectId }),
        ),
      );
    }
    for (const b of bad)
      await attack(
        `image token ${b.slice(0, 10)}`,
        raw('GET', `/api/image?project=${projectId}&path=a/a_0000.png&kind=full&token=${encodeURIComponent(b)}`),
      );
    expect(failures).toEqual([]);
  }, 120_000);

  it('cross-origin Origin, foreign Host, cross-site fetch metadata -> 403, no CORS headers', async () => {
    const p = srv.port;
    const origins = [
      'http://evil.example',
      'null',
      'file://',
      `http://127.0.0.1:${p + 1}`,
      `https://127.0.0.1:${p}`,
      `http://127.0.0.1:${p}.evil.example`,
      `http://localhost.evil.example:${p}`,
      `http://evil.example/http://127.0.0.1:${p}`,
      `HTTP://127.0.0.1:${p}`,
      `http://[::1]:${p}`,
      `http://0.0.0.0:${p}`,
      'chrome-extension://abc',
      '',
    ];
    for (const o of origins) {
      const r = json('projects.get', { projectId }, { origin: o });
      await attack(`origin ${o}`, r);
      const res = await r;
      if (res.headers['access-control-allow-origin']) failures.push(`origin ${o}: CORS header sent`);
      await attack(
        `image origin ${o}`,
        raw('GET', `/api/image?project=${projectId}&path=a/a_0000.png&kind=full&token=${srv.token}`, { origin: o }),
      );
    }
    const hosts = [
      'evil.example',
      `evil.example:${p}`,
      `127.0.0.1:${p}.evil.example`,
      `127.0.0.1:${p + 1}`,
      '127.0.0.1',
      `0.0.0.0:${p}`,
      `[::1]:${p}`,
      `localhost:${p}@evil.example`,
      `127.0.0.2:${p}`,
      `127.0.0.1.nip.io:${p}`,
    ];
    for (const h of hosts) await attack(`host ${h}`, json('projects.get', { projectId }, { host: h }));
    for (const s of ['cross-site', 'same-site'])
      await attack(`sec-fetch-site ${s}`, json('projects.get', { projectId }, { 'sec-fetch-site': s }));
    for (const m of ['OPTIONS', 'PUT', 'DELETE', 'PATCH']) {
      await attack(
        `${m} preflight`,
        raw(m, '/api/projects.get', {
          origin: 'http://evil.example',
          'access-control-request-method': 'POST',
          'x-mopro-token': srv.token,
        }),
      );
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it('bodies: oversized, chunked, malformed JSON, deep nesting, wrong content type, prototype keys', async () => {
    const big = (n: number) => JSON.stringify({ projectId, pad: 'x'.repeat(n) });
    for (const n of [MAX_BODY, MAX_BODY * 4, 8 * 1024 * 1024]) {
      await attack(`body ${n}`, json('projects.get', big(n)));
      await attack(
        `chunked body ${n}`,
        raw(
          'POST',
          '/api/projects.get',
          { 'content-type': 'application/json', 'x-mopro-token': srv.token, 'transfer-encoding': 'chunked' },
          big(n),
        ),
      );
    }
    await attack(
      'lying content-length',
      raw(
        'POST',
        '/api/projects.get',
        { 'content-type': 'application/json', 'x-mopro-token': srv.token, 'content-length': String(10 * MAX_BODY) },
        '{}'.padEnd(1000),
      ),
    );
    const malformed = [
      '{',
      '}',
      '[',
      '{"projectId":',
      '{"projectId":"a",}',
      "{'projectId':'a'}",
      'NaN',
      '\u0000',
      '\ufeff{}x',
      '{"a":1}{"b":2}',
      '{"projectId":"\\ud800"}x',
      'undefined',
      '{"projectId":1e999999}x',
      '//comment\n{}',
      '"\\u0000',
      '{"projectId":"a"'.repeat(100),
    ];
    for (const m of malformed) await attack(`malformed ${JSON.stringify(m).slice(0, 30)}`, json('projects.get', m));
    await attack('deep nesting', json('samples.query', `{"projectId":${'['.repeat(20000)}${']'.repeat(20000)}}`));
    await attack('deep object', json('samples.query', `${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}`));
    for (const ct of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      '',
      'application/xml',
    ]) {
      await attack(
        `content-type ${ct}`,
        raw(
          'POST',
          '/api/projects.get',
          { 'content-type': ct, 'x-mopro-token': srv.token },
          JSON.stringify({ projectId }),
        ),
      );
    }
    for (const m of [
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'prototype',
      '..',
      '%2e%2e',
      'projects.get/..',
      'projects',
      'valueOf',
    ]) {
      await attack(`method ${m}`, json(m, { projectId }));
    }
    // Prototype keys in the input must not change what the server does for later requests.
    await attack(
      '__proto__ pollution',
      json(
        'samples.query',
        `{"projectId":"${projectId}","__proto__":{"limit":1e9,"polluted":1},"filter":{"__proto__":{"view":"x"}},"limit":-1}`,
      ),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(failures).toEqual([]);
  }, 120_000);

  it('every API method with wrong-typed arguments -> 4xx, never 5xx', async () => {
    const wrong: unknown[] = [
      null,
      'str',
      -1,
      1.5,
      1e308,
      true,
      [],
      {},
      [1, 2],
      { $gt: '' },
      'x'.repeat(5000),
      '\u0000',
      '../..',
    ];
    let n = 0;
    for (const [m, schema] of Object.entries(methods)) {
      const shape = (schema as unknown as { shape: Record<string, unknown> }).shape ?? {};
      const keys = Object.keys(shape);
      const alwaysValid = keys.length === 0; // app.info, projects.recent take no arguments: any object is fine
      for (const top of [null, [], 'str', 7, true, []]) {
        n++;
        await attack(`${m} top-level ${JSON.stringify(top)}`, json(m, top), alwaysValid);
      }
      for (const k of keys)
        for (const w of wrong) {
          // Only values the field's own schema rejects are 'wrong' ({} is a valid train config, for one).
          if ((shape[k] as { safeParse(v: unknown): { success: boolean } }).safeParse(w).success) continue;
          // projectId is the only field given, wrong-typed; or right projectId plus one wrong field.
          n += 2;
          await attack(`${m} {${k}: ${JSON.stringify(w).slice(0, 20)}}`, json(m, { [k]: w }), alwaysValid);
          if (k !== 'projectId')
            await attack(`${m} {projectId, ${k}: ${JSON.stringify(w).slice(0, 20)}}`, json(m, { projectId, [k]: w }));
        }
    }
    expect(failures).toEqual([]);
    console.log(`wrong-typed method calls: ${n} over ${Object.keys(methods).length} methods`);
  }, 180_000);

  it('projects.open and export.start refuse hostile paths with a 4xx', async () => {
    const secretFile = path.join(base, 'secret.txt');
    for (const p of [
      'relative/path',
      '.',
      '..',
      secretFile,
      path.join(base, 'nope'),
      `${root}\u0000/x`,
      `/${'x'.repeat(4096)}`,
      `/${'x/'.repeat(2100)}`,
      '/proc/self/fd/0',
      '/dev/null',
      '',
    ]) {
      await attack(`projects.open ${p.slice(0, 40)}`, json('projects.open', { path: p }));
    }
    const targets = [
      'relative/out',
      root,
      path.join(root, 'a'),
      path.join(root, 'a', 'out'),
      base,
      path.dirname(base),
      '/',
      secretFile,
      path.join(base, 'outdir'),
      `${base}/out\u0000x`,
      `/${'x'.repeat(5000)}`,
      '',
    ];
    // '/proc/self/new-export' is tested in export-proc-target.test.ts, in a child process: it froze the server (Node's recursive mkdir loops on /proc).
    for (const to of targets)
      await attack(`export.start to ${to.slice(0, 60)}`, json('export.start', { projectId, to }));
    // Nothing was written by those refusals.
    expect(fs.readdirSync(path.join(base, 'outdir'))).toEqual(['x.png']);
    expect(fs.readdirSync(path.join(root, 'a')).filter((f) => f.startsWith('out'))).toEqual([]);
    expect(failures).toEqual([]);
  }, 60_000);
});
