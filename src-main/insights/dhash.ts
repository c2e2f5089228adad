// Perceptual difference hash (dHash): the image as 9x8 greyscale, one bit per horizontal
// neighbour pair (left brighter than right). Two files of the same picture (re-encoded, resized,
// lightly edited) differ in a few of the 64 bits; different pictures in ~32.
import fs from 'node:fs';

const MAX_INPUT_PIXELS = 64_000_000; // same decompression-bomb guard as thumbnails

/** 64-bit dHash as a bigint. */
export async function dHash(file: string): Promise<bigint> {
  const { default: sharp } = await import('sharp');
  const px = await sharp(file, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
    .rotate()
    .greyscale()
    .resize(9, 8, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer();
  return dHashOfGrey(px);
}

/** dHash from 9x8 greyscale bytes (row-major). */
export function dHashOfGrey(px: Uint8Array): bigint {
  if (px.length < 72) throw new Error(`dHash needs 9x8 pixels, got ${px.length}`);
  let h = 0n;
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) h = (h << 1n) | (px[y * 9 + x] > px[y * 9 + x + 1] ? 1n : 0n);
  return h;
}

export function hamming(a: bigint, b: bigint): number {
  let x = a ^ b,
    n = 0;
  while (x) {
    x &= x - 1n;
    n++;
  }
  return n;
}

/** The image as 16x16 greyscale bytes, for the pixel check of near-identical pairs. */
export async function greyThumb(file: string): Promise<Uint8Array> {
  const { default: sharp } = await import('sharp');
  return sharp(file, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
    .rotate()
    .greyscale()
    .resize(16, 16, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer();
}

/**
 * A per-file value remembered by path + mtime + size, so a re-check costs a stat. A missing file gives null; an
 * undecodable one is remembered as null (the pair stays unverified).
 */
class FileMemo<T> {
  private map = new Map<string, { key: string; value: T | null }>();
  constructor(private readonly compute: (file: string) => Promise<T>) {}
  async get(file: string): Promise<T | null> {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return null;
    }
    const key = `${st.mtimeMs}:${st.size}`;
    const hit = this.map.get(file);
    if (hit && hit.key === key) return hit.value;
    let value: T | null = null;
    try {
      value = await this.compute(file);
    } catch {
      /* undecodable */
    }
    this.map.set(file, { key, value });
    return value;
  }
}

/** dHash and the small grey thumbnail per file, each remembered by path + mtime + size. */
export class HashCache {
  private hashes = new FileMemo(dHash);
  private greys = new FileMemo(greyThumb);
  grey(file: string): Promise<Uint8Array | null> {
    return this.greys.get(file);
  }
  get(file: string): Promise<bigint | null> {
    return this.hashes.get(file);
  }
}
