import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { dHash, dHashOfGrey, hamming, HashCache } from './dhash';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-dhash-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A 64x64 grey picture: a bright disc at (cx, cy) on a horizontal gradient. */
async function picture(
  file: string,
  cx: number,
  cy: number,
  size = 64,
  format: 'png' | 'jpeg' = 'png',
): Promise<string> {
  const px = Buffer.alloc(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - (cx * size) / 64, y - (cy * size) / 64);
      px[y * size + x] = d < size / 5 ? 250 : Math.round((x / size) * 120);
    }
  await sharp(px, { raw: { width: size, height: size, channels: 1 } })
    [format]()
    .toFile(file);
  return file;
}

describe('dHash', () => {
  it('bits follow left > right on a hand-made 9x8 image', () => {
    const px = new Uint8Array(72);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 9; x++) px[y * 9 + x] = y === 0 ? 100 - x : x; // row 0 falls, the rest rise
    expect(dHashOfGrey(px)).toBe(0xffn << 56n);
    expect(hamming(0b1011n, 0b0110n)).toBe(3);
    expect(hamming(0n, (1n << 64n) - 1n)).toBe(64);
  });

  it('the same picture resized and re-encoded stays close; another picture does not', async () => {
    const a = await dHash(await picture(path.join(tmp, 'a.png'), 20, 30));
    const a2 = await dHash(await picture(path.join(tmp, 'a-small.jpg'), 20, 30, 40, 'jpeg'));
    const b = await dHash(await picture(path.join(tmp, 'b.png'), 48, 12));
    expect(hamming(a, a2)).toBeLessThanOrEqual(4);
    expect(hamming(a, b)).toBeGreaterThan(10);
  });

  it('HashCache answers null for a missing or broken file', async () => {
    const c = new HashCache();
    expect(await c.get(path.join(tmp, 'missing.png'))).toBeNull();
    fs.writeFileSync(path.join(tmp, 'broken.png'), 'not a png');
    expect(await c.get(path.join(tmp, 'broken.png'))).toBeNull();
  });
});
