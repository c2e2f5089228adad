// Measures scan + decode cold (empty pixel cache) vs warm (every row from the cache).
//   npx tsx bench/decode-bench.ts <dataset> [--size 28] [--channels 1]
// Prints one JSON line. The cache goes to a fresh temp folder, removed afterwards.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { scanDataset } from '../src-main/dataset/scan.js';
import { loadImages } from '../src-main/dataset/decode.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const root = argv[0];
  if (!root) throw new Error('usage: decode-bench.ts <dataset> [--size 28] [--channels 1]');
  const opt = (k: string, d: number): number => {
    const i = argv.indexOf(k);
    return i >= 0 ? Number(argv[i + 1]) : d;
  };
  const size = opt('--size', 28);
  const channels = opt('--channels', 1) === 3 ? 3 : 1;
  const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mopro-bench-cache-'));
  try {
    let t = performance.now();
    const scan = await scanDataset(root);
    const scanMs = performance.now() - t;
    t = performance.now();
    await loadImages(scan.samples, { size, channels });
    const noCacheMs = performance.now() - t;
    t = performance.now();
    const cold = await loadImages(scan.samples, { size, channels, cacheDir });
    const coldMs = performance.now() - t;
    t = performance.now();
    const warm = await loadImages(scan.samples, { size, channels, cacheDir });
    const warmMs = performance.now() - t;
    const same = Buffer.from(cold.pixels).equals(Buffer.from(warm.pixels));
    const n = scan.samples.length;
    console.log(
      JSON.stringify({
        images: n,
        size,
        channels,
        cpus: os.availableParallelism(),
        scanMs: Math.round(scanMs),
        decodeNoCacheMs: Math.round(noCacheMs),
        coldWithCacheWriteMs: Math.round(coldMs),
        warmMs: Math.round(warmMs),
        coldImgPerS: Math.round(n / (coldMs / 1000)),
        warmImgPerS: Math.round(n / (warmMs / 1000)),
        warmEqualsCold: same,
        skipped: cold.skipped.length,
      }),
    );
  } finally {
    await fs.rm(cacheDir, { recursive: true, force: true });
  }
}
main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
