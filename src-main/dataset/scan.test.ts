// scanDataset / listImagesRecursive: error cases, filters, warnings, odd names, stable order.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { scanDataset, listImages, listImagesRecursive } from './scan.js';
import { DatasetError } from './types.js';

let tmp: string;
let png: Buffer;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mopro-scan-'));
  png ??= await sharp({ create: { width: 4, height: 4, channels: 3, background: '#336699' } })
    .png()
    .toBuffer();
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function put(rel: string, data: Buffer | string = png): Promise<void> {
  const p = path.join(tmp, rel);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, data);
}

async function expectDatasetError(p: string, re: RegExp): Promise<void> {
  const err = await scanDataset(p).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatasetError);
  const msg = (err as Error).message;
  expect(msg).toMatch(re);
  expect(msg).not.toMatch(/\n/);
  expect(msg).toContain(path.resolve(p)); // names the path
}

describe('scanDataset errors (one line, names the path and the fix)', () => {
  it('missing path', async () => {
    await expectDatasetError(path.join(tmp, 'nope'), /not found.*check the path/);
  });
  it('a file instead of a folder', async () => {
    await put('file.png');
    await expectDatasetError(path.join(tmp, 'file.png'), /is a file, not a folder/);
  });
  it('no class folders', async () => {
    await put('loose.png');
    await expectDatasetError(tmp, /no class folders.*own sub-folder/);
  });
  it('class folders without any image', async () => {
    await put('a/readme.txt', 'x');
    await fs.mkdir(path.join(tmp, 'b'));
    await expectDatasetError(tmp, /no images found/);
  });
  it('only one class with images', async () => {
    await put('cat/1.png');
    await fs.mkdir(path.join(tmp, 'dog'));
    await expectDatasetError(tmp, /only one class folder \('cat'\).*at least one more/);
  });
});

describe('scanDataset', () => {
  it('collects classes, nested files, sizes and a stable sorted order', async () => {
    await put('zebra/b.png');
    await put('zebra/a.PNG');
    await put('ant/deep/er/x.webp');
    await put('ant/y.jpeg');
    const r = await scanDataset(tmp);
    expect(r.root).toBe(path.resolve(tmp));
    expect(r.classes).toEqual(['ant', 'zebra']);
    expect(r.samples.map((s) => s.rel)).toEqual(['ant/deep/er/x.webp', 'ant/y.jpeg', 'zebra/a.PNG', 'zebra/b.png']);
    for (const s of r.samples) {
      expect(r.classes[s.classIndex]).toBe(s.label);
      expect(s.abs).toBe(path.join(tmp, ...s.rel.split('/')));
      expect(s.bytes).toBe(png.length);
      expect(s.mtimeMs).toBeGreaterThan(0);
    }
    expect(r.warnings).toEqual([]);
    expect(r.skipped).toEqual([]);
  });

  it('ignores hidden files/folders and non-images silently, counting them in a warning', async () => {
    await put('a/1.png');
    await put('b/2.png');
    await put('a/.hidden.png');
    await put('.thumbs/3.png');
    await put('b/.git/objects/4.png');
    await put('a/notes.txt', 'x');
    await put('b/data.csv', 'x');
    const r = await scanDataset(tmp);
    expect(r.samples.map((s) => s.rel)).toEqual(['a/1.png', 'b/2.png']);
    expect(r.classes).toEqual(['a', 'b']);
    expect(r.warnings.find((w) => /hidden/.test(w))).toMatch(/^3 hidden/);
    expect(r.warnings.find((w) => /non-image/.test(w))).toMatch(/^2 non-image/);
  });

  it('warns about and excludes an empty class folder; skips zero-byte images with a reason', async () => {
    await put('a/1.png');
    await put('b/2.png');
    await put('b/empty.jpg', Buffer.alloc(0));
    await fs.mkdir(path.join(tmp, 'c'));
    await put('d/only-empty.png', Buffer.alloc(0));
    const r = await scanDataset(tmp);
    expect(r.classes).toEqual(['a', 'b']);
    expect(r.warnings).toContain("class folder 'c' has no images: excluded");
    expect(r.warnings).toContain("class folder 'd' has no images: excluded");
    expect(r.skipped).toEqual([
      { path: 'b/empty.jpg', reason: 'empty file (0 bytes)' },
      { path: 'd/only-empty.png', reason: 'empty file (0 bytes)' },
    ]);
  });

  it('handles CSV-hostile and non-ASCII names in classes and files', async () => {
    const names = [
      'has space/a b.png',
      'comma,class/x,y.png',
      'quote"class/"q".png',
      'new\nline/l\nf.png',
      'Ünïcödé 猫/ä.png',
    ];
    for (const n of names) await put(n);
    const r = await scanDataset(tmp);
    expect(r.samples.map((s) => s.rel).sort()).toEqual([...names].sort());
    expect(r.classes).toHaveLength(5);
    for (const s of r.samples) expect(s.label).toBe(s.rel.split('/')[0]);
  });

  it('counts a file symlink inside the root once (at the real path), skips one that leaves it', async () => {
    await put('a/1.png');
    await put('b/2.png');
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'mopro-out-'));
    try {
      await fs.writeFile(path.join(outside, 'o.png'), png);
      await fs.symlink('../b/2.png', path.join(tmp, 'a', 'link.png'));
      await fs.symlink(path.join(outside, 'o.png'), path.join(tmp, 'a', 'out.png'));
      await fs.symlink(outside, path.join(tmp, 'outside_class'));
      const r = await scanDataset(tmp);
      // The link is a second path to b/2.png: each real file counts once, at its real path.
      expect(r.samples.map((s) => s.rel)).toEqual(['a/1.png', 'b/2.png']);
      expect(r.skipped.map((s) => s.path)).toEqual(['a/link.png', 'a/out.png', 'outside_class']);
      expect(r.skipped[0]!.reason).toMatch(/same file as 'b\/2.png'/);
      for (const s of r.skipped.slice(1)) expect(s.reason).toMatch(/outside the dataset folder/);
      expect(r.warnings.some((w) => /'a' links into class folder 'b'/.test(w))).toBe(true);
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('does not hang on folder symlink loops', async () => {
    await put('a/1.png');
    await put('b/2.png');
    await fs.symlink('.', path.join(tmp, 'a', 'self'));
    await fs.symlink('..', path.join(tmp, 'b', 'up'));
    const r = await scanDataset(tmp);
    expect(r.samples.map((s) => s.rel)).toEqual(['a/1.png', 'b/2.png']);
    expect(r.skipped.map((s) => s.path)).toEqual(['a/self', 'b/up']);
  });

  it('stops at maxFiles with a warning, and reports progress', async () => {
    for (let i = 0; i < 5; i++) {
      await put(`a/${i}.png`);
      await put(`b/${i}.png`);
    }
    const calls: [number, number][] = [];
    const r = await scanDataset(tmp, { maxFiles: 7, onProgress: (d, t) => calls.push([d, t]) });
    expect(r.samples).toHaveLength(7);
    expect(r.warnings.some((w) => /stopped at 7/.test(w))).toBe(true);
    expect(calls.at(-1)).toEqual([7, 7]);
  });
});

describe('listImagesRecursive', () => {
  it('lists images at any depth with the same filters, no class structure needed', async () => {
    await put('x.png');
    await put('sub/y.jpg');
    await put('.h.png');
    await put('n.txt', 'x');
    await put('z.png', Buffer.alloc(0));
    const files = await listImagesRecursive(tmp);
    expect(files.map((f) => f.rel)).toEqual(['sub/y.jpg', 'x.png']);
    expect(files[0]!.abs).toBe(path.join(tmp, 'sub', 'y.jpg'));
    const full = await listImages(tmp);
    expect(full.skipped).toEqual([{ path: 'z.png', reason: 'empty file (0 bytes)' }]);
  });
  it('throws DatasetError for a missing folder', async () => {
    await expect(listImagesRecursive(path.join(tmp, 'missing'))).rejects.toBeInstanceOf(DatasetError);
  });
});
