// Pixel cache: hits skip decoding, mtime/size changes invalidate per file, damaged or half-written
// cache files are ignored, many small segments are compacted without losing rows.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadImages } from './decode.js';
import { PixelCache, cacheFolderFor, commonFolder } from './pixel-cache.js';

let tmp: string;
let data: string;
let cacheDir: string;
const SIZE = 8;

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mopro-cache-'));
  data = path.join(tmp, 'data');
  cacheDir = path.join(tmp, 'cache');
  await fs.mkdir(data);
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function flat(name: string, grey: number): Promise<{ abs: string; rel: string }> {
  const abs = path.join(data, name);
  await fs.writeFile(
    abs,
    await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: { r: grey, g: grey, b: grey } } })
      .png()
      .toBuffer(),
  );
  // Whole-second mtimes: utimes cannot restore sub-millisecond stat precision exactly.
  await fs.utimes(abs, 1_700_000_000, 1_700_000_000);
  return { abs, rel: name };
}

/** Same byte size and mtime, different content: only a cache hit can still return the old pixels. */
async function scribbleKeepingStat(abs: string): Promise<void> {
  const st = await fs.stat(abs);
  await fs.writeFile(abs, Buffer.alloc(st.size, 0x41));
  await fs.utimes(abs, st.atimeMs / 1000, st.mtimeMs / 1000);
  expect((await fs.stat(abs)).mtimeMs).toBe(st.mtimeMs);
}

async function segments(): Promise<string[]> {
  const dir = cacheFolderFor(cacheDir, SIZE, 1, [path.join(data, 'x')]);
  return (await fs.readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.bin'))
    .map((f) => path.join(dir, f));
}

describe('pixel cache', () => {
  it('serves a second load from the cache without decoding', async () => {
    const s = [await flat('a.png', 10), await flat('b.png', 200)];
    const cold = await loadImages(s, { size: SIZE, channels: 1, cacheDir });
    expect(cold.ok).toEqual([true, true]);
    expect(await segments()).toHaveLength(1);
    for (const x of s) await scribbleKeepingStat(x.abs);
    const warm = await loadImages(s, { size: SIZE, channels: 1, cacheDir });
    expect(warm.ok).toEqual([true, true]);
    expect(Buffer.from(warm.pixels).equals(Buffer.from(cold.pixels))).toBe(true);
    expect(warm.pixels[0]).toBe(10);
    expect(warm.pixels[SIZE * SIZE]).toBe(200);
    expect(await segments()).toHaveLength(1); // nothing new to write
    // Without the cache the scribbled files are really broken: proves the hit above did not decode.
    const direct = await loadImages(s, { size: SIZE, channels: 1 });
    expect(direct.ok).toEqual([false, false]);
  });

  it('re-decodes a file whose mtime changed, keeps hits for the others', async () => {
    const s = [await flat('a.png', 10), await flat('b.png', 200)];
    await loadImages(s, { size: SIZE, channels: 1, cacheDir });
    await fs.writeFile(
      s[0]!.abs,
      await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: '#7f7f7f' } })
        .png()
        .toBuffer(),
    );
    await fs.utimes(s[0]!.abs, 1_700_000_100, 1_700_000_100);
    await scribbleKeepingStat(s[1]!.abs);
    const r = await loadImages(s, { size: SIZE, channels: 1, cacheDir });
    expect(r.ok).toEqual([true, true]);
    expect(r.pixels[0]).toBe(127); //           new content decoded
    expect(r.pixels[SIZE * SIZE]).toBe(200); // other file still a hit
    expect(await segments()).toHaveLength(2);
  });

  it('keys on size and channels, and caches decode failures until the file changes', async () => {
    const s = [await flat('a.png', 50)];
    const bad = path.join(data, 'bad.jpg');
    await fs.writeFile(bad, 'not an image');
    const all = [...s, { abs: bad, rel: 'bad.jpg' }];
    const r1 = await loadImages(all, { size: SIZE, channels: 1, cacheDir });
    expect(r1.ok).toEqual([true, false]);
    const r3 = await loadImages(all, { size: SIZE, channels: 3, cacheDir });
    expect(r3.pixels.length).toBe(2 * SIZE * SIZE * 3);
    expect(r3.pixels[0]).toBe(50);
    const r2 = await loadImages(all, { size: SIZE, channels: 1, cacheDir });
    expect(r2.skipped).toEqual(r1.skipped);
    // Fixing the file (new size and mtime) makes it decode.
    await fs.writeFile(
      bad,
      await sharp({ create: { width: 3, height: 3, channels: 3, background: '#ffffff' } })
        .jpeg()
        .toBuffer(),
    );
    await fs.utimes(bad, 1_700_000_100, 1_700_000_100);
    const r4 = await loadImages(all, { size: SIZE, channels: 1, cacheDir });
    expect(r4.ok).toEqual([true, true]);
  });

  it('ignores a truncated segment and leftover temp files (crash mid-write)', async () => {
    const s = [await flat('a.png', 90)];
    await loadImages(s, { size: SIZE, channels: 1, cacheDir });
    const [seg] = await segments();
    const buf = await fs.readFile(seg!);
    await fs.writeFile(seg!, buf.subarray(0, buf.length - 5));
    await fs.writeFile(`${seg}.12345`, buf.subarray(0, 10)); // write-file-atomic style temp name
    await scribbleKeepingStat(s[0]!.abs);
    const r = await loadImages(s, { size: SIZE, channels: 1, cacheDir });
    expect(r.ok).toEqual([false]); // cache entry rejected -> decoded the scribble -> fails, no crash
    expect(r.skipped[0]!.reason).toMatch(/not an image|cannot decode/);
  });

  it('compacts many small segments into one without losing rows', async () => {
    const s = [];
    for (let i = 0; i < 20; i++) {
      s.push(await flat(`f${i}.png`, i * 10));
      await loadImages([s[i]!], { size: SIZE, channels: 1, cacheDir });
    }
    expect((await segments()).length).toBeLessThanOrEqual(17); // compaction ran once past 16
    const c = await PixelCache.open(
      cacheDir,
      SIZE,
      1,
      s.map((x) => x.abs),
    );
    expect(c.segmentCount).toBe((await segments()).length);
    for (const x of s) await scribbleKeepingStat(x.abs);
    const r = await loadImages(s, { size: SIZE, channels: 1, cacheDir });
    expect(r.ok.every(Boolean)).toBe(true);
    for (let i = 0; i < 20; i++) expect(r.pixels[i * SIZE * SIZE]).toBe(i * 10);
  });

  it('commonFolder finds the deepest shared folder', () => {
    expect(commonFolder(['/d/a/1.png', '/d/b/c/2.png', '/d/a/3.png'])).toBe('/d');
    expect(commonFolder(['/d/a/1.png'])).toBe('/d/a');
    expect(commonFolder(['/x/1.png', '/y/2.png'])).toBe('/');
  });

  it('stops when aborted, keeping what was decoded', async () => {
    const s = [];
    for (let i = 0; i < 30; i++) s.push(await flat(`g${i}.png`, i));
    const ac = new AbortController();
    const p = loadImages(s, {
      size: SIZE,
      channels: 1,
      cacheDir,
      concurrency: 1,
      onProgress: (d) => {
        if (d >= 5) ac.abort(new Error('stop'));
      },
      signal: ac.signal,
    });
    await expect(p).rejects.toThrow('stop');
    const first = s.slice(0, 5);
    for (const x of first) await scribbleKeepingStat(x.abs);
    const r = await loadImages(first, { size: SIZE, channels: 1, cacheDir });
    expect(r.ok).toEqual([true, true, true, true, true]); // decoded before the abort, served from cache
  });
});
