// Bad-file corpus: scan + load over it must never throw, every bad file is skipped with a
// named reason, every good file decodes with the right shape, orientation and first frame.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeBadCorpus, type BadCorpus } from '../../tests/fixtures/bad-files.js';
import { scanDataset } from './scan.js';
import { loadImages } from './decode.js';
import type { ScanResult, LoadResult } from './types.js';

let tmp: string;
let corpus: BadCorpus;
let scan: ScanResult;
let load: LoadResult;
const SIZE = 16;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mopro-bad-'));
  corpus = await makeBadCorpus(tmp);
  for (const n of corpus.notes) console.log(`NOTE: ${n}`);
  scan = await scanDataset(corpus.root);
  load = await loadImages(scan.samples, { size: SIZE, channels: 3 });
});
afterAll(async () => {
  await fs.chmod(path.join(corpus.root, 'bad/unreadable.png'), 0o644).catch(() => undefined);
  await fs.rm(tmp, { recursive: true, force: true });
});

function allSkipped(): Map<string, string> {
  return new Map([...scan.skipped, ...load.skipped].map((s) => [s.path, s.reason]));
}

describe('bad-file corpus', () => {
  it('keeps the two usable classes and warns about the empty one', () => {
    expect(scan.classes).toEqual(['bad', 'good']);
    expect(scan.warnings).toContain("class folder 'empty_class' has no images: excluded");
    expect(scan.warnings.some((w) => /hidden/.test(w))).toBe(true);
    expect(scan.warnings.some((w) => /non-image/.test(w))).toBe(true);
  });

  it('skips every bad file with a non-empty reason', () => {
    const skipped = allSkipped();
    for (const rel of corpus.expectSkipped) {
      expect(skipped.has(rel), `${rel} should be skipped; skipped = ${[...skipped.keys()].join(' | ')}`).toBe(true);
      expect(skipped.get(rel)!.length).toBeGreaterThan(3);
    }
    expect([...skipped.keys()].sort()).toEqual([...corpus.expectSkipped].sort());
  });

  it('gives reasons that say what is wrong', () => {
    const s = allSkipped();
    expect(s.get('bad/zero-bytes.jpg')).toMatch(/0 bytes/);
    expect(s.get('bad/huge-50000x50000.png')).toBe('image is 50000x50000, over the 100 MP limit');
    expect(s.get('bad/self-loop.png')).toMatch(/loop/);
    expect(s.get('bad/sub/back-up')).toMatch(/loop/);
    expect(s.get('bad/link-outside.png')).toMatch(/outside the dataset/);
    expect(s.get('bad/text.jpg')).toMatch(/unsupported|format/i);
    for (const r of s.values()) expect(r).not.toMatch(/\n/);
  });

  it('decodes every good file, never a hidden or non-image one', () => {
    const rels = scan.samples.map((x) => x.rel);
    for (const rel of corpus.ignored) expect(rels).not.toContain(rel);
    const okRels = scan.samples
      .filter((_, i) => load.ok[i])
      .map((x) => x.rel)
      .sort();
    expect(okRels).toEqual([...corpus.expectOk].sort());
    expect(load.pixels.length).toBe(scan.samples.length * SIZE * SIZE * 3);
  });

  it('applies EXIF orientation (black on top after rotation)', async () => {
    const r = await loadImages(
      scan.samples.filter((x) => x.rel === corpus.exifRotated),
      { size: SIZE, channels: 1 },
    );
    expect(r.ok).toEqual([true]);
    const px = r.pixels;
    const mean = (y0: number, y1: number, x0: number, x1: number): number => {
      let s = 0,
        n = 0;
      for (let y = y0; y < y1; y++)
        for (let x = x0; x < x1; x++) {
          s += px[y * SIZE + x]!;
          n++;
        }
      return s / n;
    };
    expect(mean(0, 6, 0, SIZE)).toBeLessThan(40); //        top: black
    expect(mean(10, SIZE, 0, SIZE)).toBeGreaterThan(215); // bottom: white
    expect(Math.abs(mean(0, SIZE, 0, 6) - mean(0, SIZE, 10, SIZE))).toBeLessThan(30); // no left/right split
  });

  it('uses the first GIF frame (red, not blue)', () => {
    const i = scan.samples.findIndex((x) => x.rel === corpus.animatedGif);
    const row = load.pixels.subarray(i * SIZE * SIZE * 3, (i + 1) * SIZE * SIZE * 3);
    expect(row[0]).toBeGreaterThan(200);
    expect(row[2]).toBeLessThan(50);
  });

  it('flattens grey+alpha onto white and converts CMYK/16-bit to 8-bit sRGB', () => {
    const at = (rel: string): Uint8Array => {
      const i = scan.samples.findIndex((x) => x.rel === rel);
      return load.pixels.subarray(i * SIZE * SIZE * 3, (i + 1) * SIZE * SIZE * 3);
    };
    const ga = at('good/gray-alpha.png');
    const gaMean = ga.reduce((a, b) => a + b, 0) / ga.length;
    expect(gaMean).toBeGreaterThan(128); // half the pixels are transparent -> white
    for (const rel of ['good/cmyk.jpg', 'good/sixteen-bit.png']) {
      const row = at(rel);
      expect(new Set(row).size).toBeGreaterThan(20); // real image content, not a blank row
    }
    const one = at('good/one-pixel.png');
    expect(Math.max(...one) - Math.min(...one)).toBeLessThanOrEqual(2); // 1x1 grey upsampled = flat
  });
});
