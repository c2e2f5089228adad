// The image protocol (mopro-img://) and the app protocol (mopro-app://): paths outside the dataset
// or the renderer build are refused ('..', absolute, encoded, double-encoded, backslashes,
// symlinks out); good paths are served byte for byte. Run against a recording fake service (the
// protocol's own gate must refuse before the service is asked) and against the real service.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAppFileHandler, createImageHandler } from './protocol';
import { imageUrl, parseImageUrl } from './image-url';
import { ApiError, type ApiService } from '../api/service-types';
import { createService } from '../api/service';
import type { ScanResult } from '../dataset/types';

let tmp: string;
let dataset: string;
let secret: string;
const SECRET = 'TOP-SECRET-CONTENT';

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-app-protocol-'));
  dataset = path.join(tmp, 'dataset');
  fs.mkdirSync(path.join(dataset, 'cat'), { recursive: true });
  fs.mkdirSync(path.join(dataset, 'dog'), { recursive: true });
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .png()
    .toBuffer();
  fs.writeFileSync(path.join(dataset, 'cat', 'a.png'), png);
  fs.writeFileSync(path.join(dataset, 'dog', 'b c.png'), png);
  fs.writeFileSync(path.join(dataset, 'dog', '100%_real.png'), png);
  secret = path.join(tmp, 'secret.png');
  fs.writeFileSync(secret, SECRET);
  // Symlinks inside the dataset that lead out of it (a file and a whole folder).
  fs.symlinkSync(secret, path.join(dataset, 'cat', 'evil.png'));
  fs.symlinkSync(tmp, path.join(dataset, 'dog', 'up'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Ways to ask for something outside the dataset, as raw URLs (some hand-built on purpose, so the
// encoding is exactly the attack, not what imageUrl() would produce).
const q = (p: string, kind = 'full', project = 'PID') => `mopro-img://image/${kind}?project=${project}&path=${p}`;
const ATTACKS: [string, string][] = [
  ['dot-dot', q('../secret.png')],
  ['dot-dot inside', q('cat/../../secret.png')],
  ['encoded dot-dot', q('%2e%2e/secret.png')],
  ['encoded slash', q('cat%2f..%2f..%2fsecret.png')],
  ['double-encoded dot-dot', q('%252e%252e/secret.png')],
  ['double-encoded slash', q('cat%252f..%252fsecret.png')],
  ['absolute', q(encodeURIComponent('/etc/passwd'))],
  ['absolute to the secret', q('SECRET_ABS')],
  ['windows drive', q('C:%5CWindows%5Cwin.ini')],
  ['backslashes', q('cat%5C..%5C..%5Csecret.png')],
  ['raw backslashes', q('cat\\..\\..\\secret.png')],
  ['NUL byte', q('cat/a.png%00.txt')],
  ['empty segment', q('cat//a.png')],
  ['dot segment', q('./cat/a.png')],
  ['empty path', q('')],
  ['two paths', `${q('cat/a.png')}&path=../secret.png`],
  ['bad kind', q('cat/a.png', 'raw')],
  ['project traversal', q('cat/a.png', 'full', '..')],
  ['project with slash', q('cat/a.png', 'full', 'a%2Fb')],
  ['wrong host', 'mopro-img://evil/full?project=PID&path=cat/a.png'],
];

function withSecret(url: string): string {
  return url.replace('SECRET_ABS', encodeURIComponent(secret));
}

describe('image URL round trip', () => {
  it('imageUrl() output parses back to the same request, spaces and % included', () => {
    for (const rel of ['cat/a.png', 'dog/b c.png', 'dog/100%_real.png', 'ünï/çødé #1?.png']) {
      expect(parseImageUrl(imageUrl('proj-123abc', rel, 'thumb'))).toEqual({
        projectId: 'proj-123abc',
        relPath: rel,
        kind: 'thumb',
      });
    }
  });
});

describe('mopro-img:// handler, lexical gate (fake service)', () => {
  const calls: unknown[][] = [];
  const fake: Pick<ApiService, 'image'> = {
    image: vi.fn(async (...args: unknown[]) => {
      calls.push(args);
      return { file: path.join(dataset, 'cat', 'a.png'), mime: 'image/png' };
    }),
  };
  const handler = createImageHandler(fake);

  it.each(ATTACKS)('refuses %s before asking the service', async (_what, url) => {
    calls.length = 0;
    const res = await handler(new Request(withSecret(url)));
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain(SECRET);
    expect(calls).toEqual([]);
  });

  it('serves a good path with the mime type the service gives', async () => {
    calls.length = 0;
    const res = await handler(new Request(imageUrl('PID', 'cat/a.png', 'full')));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(fs.readFileSync(path.join(dataset, 'cat', 'a.png')));
    expect(calls).toEqual([['PID', 'cat/a.png', 'full']]);
  });

  it('maps service refusals to 403/404 and refuses non-GET methods', async () => {
    const refusing = createImageHandler({
      image: async () => {
        throw new ApiError('FORBIDDEN', 'leads outside');
      },
    });
    expect((await refusing(new Request(imageUrl('PID', 'cat/a.png', 'full')))).status).toBe(403);
    const missing = createImageHandler({
      image: async () => {
        throw new ApiError('NOT_FOUND', 'gone');
      },
    });
    expect((await missing(new Request(imageUrl('PID', 'cat/a.png', 'full')))).status).toBe(404);
    expect(
      (await handler(new Request(imageUrl('PID', 'cat/a.png', 'full'), { method: 'POST', body: 'x' }))).status,
    ).toBe(405);
  });
});

describe('mopro-img:// handler with the real service', () => {
  let service: ApiService;
  let projectId: string;

  beforeAll(async () => {
    // A scanner that lists every file, symlinks included, so the service's realpath check (not
    // the scan) is what stands between a symlink and the secret.
    const scanner = async (root: string): Promise<ScanResult> => {
      const samples = [];
      for (const label of ['cat', 'dog']) {
        for (const name of fs.readdirSync(path.join(root, label)).sort()) {
          const abs = path.join(root, label, name);
          samples.push({
            rel: `${label}/${name}`,
            abs,
            label,
            classIndex: label === 'cat' ? 0 : 1,
            bytes: 1,
            mtimeMs: 0,
          });
        }
      }
      samples.push({
        rel: 'dog/up/secret.png',
        abs: path.join(root, 'dog/up/secret.png'),
        label: 'dog',
        classIndex: 1,
        bytes: 1,
        mtimeMs: 0,
      });
      return { root, classes: ['cat', 'dog'], samples, skipped: [], warnings: [] };
    };
    service = createService({
      mode: 'electron',
      dataDir: path.join(tmp, 'data'),
      cacheDir: path.join(tmp, 'cache'),
      emit: () => {},
      scanner,
    } as Parameters<typeof createService>[0]);
    const opened = (await service.call('projects.open', { path: dataset })) as { id: string };
    projectId = opened.id;
  });
  afterAll(async () => service?.dispose());

  it.each(ATTACKS)('refuses %s', async (_what, url) => {
    const handler = createImageHandler(service);
    const res = await handler(new Request(withSecret(url).replace('project=PID', `project=${projectId}`)));
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain(SECRET);
  });

  it.each([
    ['a symlinked file', 'cat/evil.png'],
    ['a symlinked folder', 'dog/up/secret.png'],
  ])('refuses %s that leads out of the dataset', async (_what, rel) => {
    const res = await createImageHandler(service)(new Request(imageUrl(projectId, rel, 'full')));
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain(SECRET);
  });

  it('serves full images byte for byte and thumbnails as images', async () => {
    const handler = createImageHandler(service);
    for (const rel of ['cat/a.png', 'dog/b c.png', 'dog/100%_real.png']) {
      const res = await handler(new Request(imageUrl(projectId, rel, 'full')));
      expect(res.status, rel).toBe(200);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(fs.readFileSync(path.join(dataset, ...rel.split('/'))));
    }
    const thumb = await handler(new Request(imageUrl(projectId, 'cat/a.png', 'thumb')));
    expect(thumb.status).toBe(200);
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect(meta.width).toBeGreaterThan(0);
  });

  it('answers 404 (not 500) for a project that is not open', async () => {
    const res = await createImageHandler(service)(new Request(imageUrl('nope-000000000000', 'cat/a.png', 'full')));
    expect([403, 404]).toContain(res.status);
  });
});

describe('mopro-app:// handler', () => {
  let build: string;
  const CSP = "default-src 'none'; script-src 'self'";
  beforeAll(() => {
    build = path.join(tmp, 'renderer');
    fs.mkdirSync(path.join(build, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(build, 'index.html'), '<!doctype html><title>t</title>');
    fs.writeFileSync(path.join(build, 'assets', 'app.js'), 'console.log(1)');
    fs.symlinkSync(secret, path.join(build, 'assets', 'leak.js'));
  });

  it('serves the build with the CSP header and a JS mime type', async () => {
    const h = createAppFileHandler(build, CSP);
    const index = await h(new Request('mopro-app://app/'));
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toBe(CSP);
    expect(index.headers.get('content-type')).toContain('text/html');
    const js = await h(new Request('mopro-app://app/assets/app.js'));
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(await js.text()).toBe('console.log(1)');
  });

  it.each([
    // The URL parser (Node's here, Chromium's in the app) already folds %2e%2e segments, so this
    // one arrives as /secret.png inside the build: not found rather than forbidden.
    ['dot-dot', 'mopro-app://app/assets/%2e%2e/%2e%2e/secret.png', 404],
    ['double-encoded', 'mopro-app://app/assets/%252e%252e/secret.png', 403],
    ['backslash', 'mopro-app://app/assets%5C..%5C..%5Csecret.png', 403],
    ['symlink out', 'mopro-app://app/assets/leak.js', 403],
    ['absolute', `mopro-app://app/${encodeURIComponent('/etc/passwd')}`, 403],
  ])('refuses %s', async (_what, url, status) => {
    const res = await createAppFileHandler(build, CSP)(new Request(url));
    expect(res.status).toBe(status);
    expect(await res.text()).not.toContain(SECRET);
  });

  it('answers 404 for a missing file', async () => {
    expect((await createAppFileHandler(build, CSP)(new Request('mopro-app://app/nope.js'))).status).toBe(404);
  });
});
