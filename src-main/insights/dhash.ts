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

/** dHash per file, remembered by path + mtime + size so a re-check costs a stat. */
export class HashCache {
  private map = new Map<string, { key: string; hash: bigint | null }>();
  private greys = new Map<string, { key: string; px: Uint8Array | null }>();
  async grey(file: string): Promise<Uint8Array | null> {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return null;
    }
    const key = `${st.mtimeMs}:${st.size}`;
    const hit = this.greys.get(file);
    if (hit && hit.key === key) return hit.px;
    let px: Uint8Array | null = null;
    try {
      px = await greyThumb(file);
    } catch {
      /* undecodable: the pair stays unverified */
    }
    this.greys.set(file, { key, px });
    return px;
  }
  async get(file: string): Promise<bigint | null> {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return null;
    }
    const key = `${st.mtimeMs}:${st.size}`;
    const hit = this.map.get(file);
    if (hit && hit.key === key) return hit.hash;
    let hash: bigint | null = null;
    try {
      hash = await dHash(file);
    } catch {
      /* undecodable: no hash, the pair stays unverified */
    }
    this.map.set(file, { key, hash });
    return hash;
  }
}
