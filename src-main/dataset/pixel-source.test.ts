// Pixel sources: the on-disk (segment) source gives exactly the rows the in-memory one does, in any order,
// with a bounded window; out-of-range rows and damaged segment files fail with errors naming the row or file.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadImages, loadPixelSource } from './decode.js';
import { MAX_OPEN_FILES, MemoryPixelSource, SegmentPixelSource, readRows } from './pixel-source.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-source-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ROW = 12;
/** n rows of ROW bytes, row i = (i * 7 + t) & 255, split over segment files of `perFile` rows after a header. */
function segmentFiles(n: number, perFile: number, header = 5): { files: string[]; all: Uint8Array } {
  const all = Uint8Array.from({ length: n * ROW }, (_, t) => (Math.floor(t / ROW) * 7 + (t % ROW)) & 255);
  const files: string[] = [];
  for (let s = 0; s < n; s += perFile) {
    const f = path.join(tmp, `seg-${files.length}.bin`);
    const rows = all.subarray(s * ROW, Math.min(n, s + perFile) * ROW);
    fs.writeFileSync(f, Buffer.concat([Buffer.alloc(header, 0xee), rows]));
    files.push(f);
  }
  return { files, all };
}
const placeIn =
  (perFile: number, header = 5) =>
  (i: number) => ({
    file: Math.floor(i / perFile),
    offset: header + (i % perFile) * ROW,
  });

describe('pixel sources', () => {
  it('segment reads equal memory reads for sequential, shuffled and repeated rows', () => {
    const n = 100;
    const { files, all } = segmentFiles(n, 30);
    const mem = new MemoryPixelSource(all, ROW);
    // a window of 3 rows: runs longer than that are split
    const seg = new SegmentPixelSource(files, n, ROW, placeIn(30), 3 * ROW);
    const seq = Int32Array.from({ length: n }, (_, i) => i);
    const shuffled = Int32Array.from([5, 99, 0, 31, 30, 29, 64, 63, 62, 61, 7, 7, 8]);
    for (const rows of [seq, shuffled, seq.subarray(25, 40)])
      expect(Buffer.from(seg.read(rows)).equals(Buffer.from(mem.read(rows)))).toBe(true);
    expect(Buffer.from(readRows(all, shuffled, ROW)).equals(Buffer.from(seg.read(shuffled)))).toBe(true);
    // into a caller's buffer, with room to spare
    const out = new Uint8Array(20 * ROW).fill(9);
    seg.read([3, 2], out);
    expect(Array.from(out.subarray(0, 2 * ROW))).toEqual(Array.from(mem.read([3, 2])));
    expect(out[2 * ROW]).toBe(9);
    seg.close();
  });

  it('holds only the row index and its window, whatever the rows on disk', () => {
    const n = 2000;
    const { files } = segmentFiles(n, 500);
    const seg = new SegmentPixelSource(files, n, ROW, placeIn(500), 4 * ROW);
    expect(seg.residentBytes).toBe(n * 12 + 4 * ROW);
    expect(seg.openFiles).toBe(0);
    expect(seg.read(Int32Array.from({ length: n }, (_, i) => n - 1 - i)).length).toBe(n * ROW);
    seg.close();
  });

  it('keeps at most MAX_OPEN_FILES segment files open; a vanished one is named', () => {
    const n = MAX_OPEN_FILES + 36;
    const { files, all } = segmentFiles(n, 1);
    const seg = new SegmentPixelSource(files, n, ROW, placeIn(1));
    const rows = Int32Array.from({ length: 3 * n }, (_, j) => (j * 37) % n);
    expect(Buffer.from(seg.read(rows)).equals(Buffer.from(readRows(all, rows, ROW)))).toBe(true);
    expect(seg.openFiles).toBe(MAX_OPEN_FILES);
    // file 0 was read long ago (closed); removing it makes its next read fail clearly
    seg.read([n - 1]);
    fs.rmSync(files[0]!);
    expect(() => seg.read([0])).toThrow(new RegExp(`${path.basename(files[0]!)} cannot be opened \\(ENOENT\\)`));
    seg.close();
    expect(seg.openFiles).toBe(0);
  });

  it('rows without a place are zeros', () => {
    const { files, all } = segmentFiles(4, 4);
    const seg = new SegmentPixelSource(files, 5, ROW, (i) => (i === 4 ? { file: -1, offset: 0 } : placeIn(4)(i)));
    const r = seg.read([4, 1]);
    expect(Array.from(r.subarray(0, ROW))).toEqual(new Array(ROW).fill(0));
    expect(Array.from(r.subarray(ROW))).toEqual(Array.from(all.subarray(ROW, 2 * ROW)));
    seg.close();
  });

  it('refuses out-of-range rows and a short output buffer', () => {
    const { files, all } = segmentFiles(10, 10);
    const seg = new SegmentPixelSource(files, 10, ROW, placeIn(10));
    expect(() => seg.read([10])).toThrow(/row 10 is out of range: the source holds rows 0 to 9/);
    expect(() => seg.read([-1])).toThrow(/row -1 is out of range/);
    expect(() => new MemoryPixelSource(all, ROW).read([1.5])).toThrow(/out of range/);
    expect(() => seg.read([0, 1], new Uint8Array(ROW))).toThrow(/holds 12 bytes, 24 needed/);
    seg.close();
    expect(() => seg.read([0])).toThrow(/closed/);
  });

  it('a segment shorter than its rows is refused when the source is built, naming the file and the fix', () => {
    const { files } = segmentFiles(20, 10);
    fs.truncateSync(files[1]!, 5 + 4 * ROW);
    expect(() => new SegmentPixelSource(files, 20, ROW, placeIn(10))).toThrow(
      new RegExp(`segment ${files[1]!.replace(/[.\\\\]/g, '\\$&')} is \\d+ bytes, shorter.*delete it`),
    );
  });

  it('a segment cut short after opening fails the read, naming the file', () => {
    const { files } = segmentFiles(20, 10);
    const seg = new SegmentPixelSource(files, 20, ROW, placeIn(10));
    fs.truncateSync(files[0]!, 5 + 2 * ROW);
    expect(seg.read([0, 1]).length).toBe(2 * ROW);
    expect(() => seg.read([5])).toThrow(new RegExp(`${path.basename(files[0]!)} ended after \\d+ bytes`));
    seg.close();
  });
});

describe('loadPixelSource', () => {
  it('streams the rows loadImages holds, cold and warm, with failures as zero rows', async () => {
    const data = path.join(tmp, 'data'),
      cacheDir = path.join(tmp, 'cache');
    fs.mkdirSync(data);
    const samples = [];
    for (let i = 0; i < 12; i++) {
      const abs = path.join(data, `${i}.png`);
      const px = Buffer.from(Array.from({ length: 6 * 6 * 3 }, (_, t) => (i * 19 + t * 5) & 255));
      await sharp(px, { raw: { width: 6, height: 6, channels: 3 } })
        .png()
        .toFile(abs);
      samples.push({ abs, rel: `${i}.png` });
    }
    fs.writeFileSync(path.join(data, 'bad.png'), 'not an image');
    samples.splice(4, 0, { abs: path.join(data, 'bad.png'), rel: 'bad.png' });
    const want = await loadImages(samples, { size: 6, channels: 3 });
    const rows = Int32Array.from([12, 0, 4, 3, 7, 7, 1]);
    for (const pass of ['cold', 'warm']) {
      const got = await loadPixelSource(samples, { size: 6, channels: 3, cacheDir, inMemoryMax: 0 });
      expect(got.streamed, pass).toBe(true);
      expect(got.ok).toEqual(want.ok);
      expect(got.skipped).toEqual(want.skipped);
      expect(Buffer.from(got.pixels.read(rows)).equals(Buffer.from(readRows(want.pixels, rows, 108)))).toBe(true);
      got.pixels.close();
    }
    const small = await loadPixelSource(samples, { size: 6, channels: 3, cacheDir });
    expect(small.streamed).toBe(false);
    expect(Buffer.from(small.pixels.read(rows)).equals(Buffer.from(readRows(want.pixels, rows, 108)))).toBe(true);
  });
});
