// A generated colour image folder for the memory benchmark (bench/rss-bench.ts): `classes` class folders,
// 96 px RGB JPEGs. Each class has its own base colour; each image a seeded gradient and a disc, so rows
// differ and the decoder does real work. The pixels are not natural images: the benchmark measures memory,
// not accuracy.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../src-shared/rng';

export const GEN_SIZE = 96;

function imagePixels(cls: number, i: number, classes: number, size: number): Buffer {
  const r = new Rng(1 + i * 31 + cls);
  const base = [(cls * 97) % 256, (cls * 57 + 80) % 256, (cls * 151 + 30) % 256];
  const buf = Buffer.alloc(size * size * 3);
  const cx = r.next() * size,
    cy = r.next() * size,
    rad = (0.15 + 0.3 * r.next()) * size,
    disc = [r.next() * 255, r.next() * 255, r.next() * 255],
    gx = (r.next() - 0.5) * 2,
    gy = (r.next() - 0.5) * 2;
  void classes;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < rad * rad;
      for (let c = 0; c < 3; c++) {
        const v = inDisc ? disc[c]! : base[c]! + 60 * (gx * (x / size - 0.5) + gy * (y / size - 0.5));
        buf[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return buf;
}

/** Path of image i (0-based) of a folder with `classes` classes: image i belongs to class i % classes. */
export function imagePath(root: string, i: number, classes: number): string {
  return path.join(root, `class-${String(i % classes).padStart(2, '0')}`, `img-${String(i).padStart(6, '0')}.jpg`);
}

/** Writes images [0, n) that are missing (re-running resumes a partial folder); returns how many were written. */
export async function generateFolder(
  root: string,
  n: number,
  classes = 10,
  onProgress?: (done: number) => void,
): Promise<number> {
  for (let k = 0; k < classes; k++)
    fs.mkdirSync(path.join(root, `class-${String(k).padStart(2, '0')}`), { recursive: true });
  let written = 0;
  const conc = 4;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const file = imagePath(root, i, classes);
      if (fs.existsSync(file)) continue;
      const px = imagePixels(i % classes, i, classes, GEN_SIZE);
      const tmp = `${file}.tmp`;
      await sharp(px, { raw: { width: GEN_SIZE, height: GEN_SIZE, channels: 3 } })
        .jpeg({ quality: 90 })
        .toFile(tmp);
      fs.renameSync(tmp, file);
      written++;
      if (i % 5000 === 0) onProgress?.(i);
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  return written;
}

/** A folder holding the first n images of `master` as hard links (no copy; each its own dataset and cache). */
export function linkSubset(master: string, root: string, n: number, classes = 10): void {
  for (let k = 0; k < classes; k++)
    fs.mkdirSync(path.join(root, `class-${String(k).padStart(2, '0')}`), { recursive: true });
  for (let i = 0; i < n; i++) {
    const dst = imagePath(root, i, classes);
    if (!fs.existsSync(dst)) fs.linkSync(imagePath(master, i, classes), dst);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const root = process.argv[2],
    n = Number(process.argv[3]);
  if (!root || !(n > 0)) throw new Error('usage: tsx bench/rss-folder.ts <folder> <n>');
  const t0 = Date.now();
  const w = await generateFolder(root, n, 10, (d) => process.stdout.write(`${d} `));
  process.stdout.write(`\nwrote ${w} images in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}
