// Image decoding with sharp (libvips) into fixed-size uint8 rows for training and prediction.
//
// Pipeline per image: EXIF orientation applied (.rotate()), first frame only for GIF/WebP/TIFF pages,
// transparency flattened onto WHITE (web images with alpha are mostly logos/product shots drawn for
// a white page; black would turn dark-on-transparent drawings into black squares), colour converted
// to sRGB (CMYK and 16-bit inputs included, with their ICC profile when present) or to luminance
// for 1 channel, then resized so the SHORTER side is `size` and centre-cropped to size x size
// (sharp fit 'cover'): the test transform of mopro.md section 4 without the 256/224 margin.
import os from 'node:os';
import fs from 'node:fs/promises';
import sharp from 'sharp';
import type { LoadOptions, LoadResult, SkippedFile } from './types.js';
import { mapLimit } from './pool.js';
import { PixelCache } from './pixel-cache.js';
import { MemoryPixelSource, SegmentPixelSource, type PixelSource } from './pixel-source.js';

export const MAX_INPUT_PIXELS = 100_000_000;

/** Decode failure with a short, user-facing reason (already shortened). */
export class DecodeError extends Error {
  /** cacheable = the failure is about the file's content, so it holds until the file changes. */
  constructor(
    message: string,
    readonly cacheable = true,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** sharp/libvips messages can be multi-line and carry library prefixes; keep one readable line. */
export function shortenReason(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const line =
    raw
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? 'cannot decode';
  const cleaned = line.replace(/^Error:\s*/, '').replace(/^(Vips\w+|\w+load(_\w+)?|vips_\w+):\s*/i, '');
  const text = /unsupported image format/i.test(cleaned)
    ? 'not an image (unsupported format or not image data)'
    : cleaned;
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** size x size x channels uint8 pixels of one image; throws DecodeError with a short reason. */
export async function decodeImage(abs: string, size: number, channels: 1 | 3): Promise<Uint8Array> {
  try {
    let p = sharp(abs, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'warning', page: 0, pages: 1 })
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize(size, size, { fit: 'cover', position: 'centre' });
    p = channels === 1 ? p.toColourspace('b-w') : p.toColourspace('srgb');
    const { data, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size || info.channels !== channels) {
      throw new Error(`unexpected decoded shape ${info.width}x${info.height}x${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    if (/pixel limit/i.test(err instanceof Error ? err.message : '')) {
      // Header only: tells the user how big the image is without decoding it.
      const m = await sharp(abs, { limitInputPixels: false })
        .metadata()
        .catch(() => null);
      const dims = m?.width && m?.height ? `${m.width}x${m.height}` : 'larger than allowed';
      throw new DecodeError(`image is ${dims}, over the ${MAX_INPUT_PIXELS / 1e6} MP limit`);
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new DecodeError('not readable (permission denied)', false); // chmod keeps mtime
    if (/Input file is missing/i.test(err instanceof Error ? err.message : ''))
      throw new DecodeError('file not found (moved or deleted?)', false);
    throw new DecodeError(`cannot decode: ${shortenReason(err)}`);
  }
}

export interface LoadSample {
  abs: string;
  rel: string;
  mtimeMs?: number;
  bytes?: number;
}

/**
 * Decodes every sample into one N x size x size x channels buffer (row i = samples[i]; rows of failed
 * samples stay zero). With `cacheDir`, rows come from the on-disk pixel cache when the file's mtime and
 * size are unchanged, so later epochs and re-runs do not decode again. Never throws for a bad image:
 * it lands in `skipped` with a reason. Throws only when aborted through `signal`.
 */
export async function loadImages(samples: readonly LoadSample[], opts: LoadOptions): Promise<LoadResult> {
  const pixels = new Uint8Array(samples.length * opts.size * opts.size * opts.channels);
  const r = await decodeAll(samples, opts, pixels);
  return { pixels, ok: r.ok, skipped: r.skipped };
}

export interface SourceLoadResult {
  pixels: PixelSource;
  ok: boolean[];
  skipped: SkippedFile[];
  /** true: rows are read from the cache's files per batch; false: held in memory */
  streamed: boolean;
}

/** Above this many bytes of rows, loadPixelSource leaves them on disk (measured: bench/rss-bench.ts). */
export const IN_MEMORY_MAX_BYTES = 256 * 1024 * 1024;

/**
 * loadImages for datasets of any size: when the rows would take more than `inMemoryMax` bytes (default
 * IN_MEMORY_MAX_BYTES; 0 = always), they are decoded into the on-disk cache only and read back batch by batch
 * (SegmentPixelSource), so no N x rowBytes array exists; else one array in memory, as loadImages.
 */
export async function loadPixelSource(
  samples: readonly LoadSample[],
  opts: LoadOptions & { cacheDir: string; inMemoryMax?: number },
): Promise<SourceLoadResult> {
  const rowBytes = opts.size * opts.size * opts.channels;
  if (samples.length * rowBytes <= (opts.inMemoryMax ?? IN_MEMORY_MAX_BYTES)) {
    const r = await loadImages(samples, opts);
    return { pixels: new MemoryPixelSource(r.pixels, rowBytes), ok: r.ok, skipped: r.skipped, streamed: false };
  }
  const r = await decodeAll(samples, opts, null);
  const cache = r.cache!;
  const fileIndex = new Map<string, number>();
  const places = samples.map((s, i) => {
    if (!r.ok[i]) return { file: -1, offset: 0 };
    const p = cache.placeOf(s.abs);
    if (!p)
      throw new Error(
        `${s.abs}: decoded, but its pixels are not in the cache folder ${cache.folder} (disk full or not writable?)`,
      );
    let f = fileIndex.get(p.file);
    if (f === undefined) fileIndex.set(p.file, (f = fileIndex.size));
    return { file: f, offset: p.offset };
  });
  const source = new SegmentPixelSource([...fileIndex.keys()], samples.length, rowBytes, (i) => places[i]!);
  return { pixels: source, ok: r.ok, skipped: r.skipped, streamed: true };
}

/** The decode loop: rows into `pixels` when given (else only into the cache, which `cacheDir` must name). */
async function decodeAll(
  samples: readonly LoadSample[],
  opts: LoadOptions,
  pixels: Uint8Array | null,
): Promise<{ ok: boolean[]; skipped: SkippedFile[]; cache: PixelCache | null }> {
  const { size, channels } = opts;
  const rowBytes = size * size * channels;
  const n = samples.length;
  if (!pixels && !opts.cacheDir) throw new Error('decoding without keeping the rows needs a pixel cache folder');
  const ok = new Array<boolean>(n).fill(false);
  const reasons = new Array<string | undefined>(n);
  const concurrency = opts.concurrency ?? os.availableParallelism();
  let done = 0;
  const every = Math.max(1, Math.floor(n / 200)); // at most ~200 progress events per load
  const tick = (k: number): void => {
    done += k;
    if (opts.onProgress && (k > 1 || done % every === 0 || done === n)) opts.onProgress(done, n);
  };

  // Cache keys need mtime and size; samples from scanDataset carry them, others are stat'ed here.
  const keys = await mapLimit(
    samples,
    64,
    async (s) => {
      if (s.mtimeMs !== undefined && s.bytes !== undefined) return { mtimeMs: s.mtimeMs, bytes: s.bytes };
      const st = await fs.stat(s.abs).catch(() => null);
      return st ? { mtimeMs: st.mtimeMs, bytes: st.size } : null;
    },
    opts.signal,
  );

  const cache = opts.cacheDir
    ? await PixelCache.open(
        opts.cacheDir,
        size,
        channels,
        samples.map((s) => s.abs),
      )
    : null;
  const todo: number[] = [];
  if (cache) {
    const hits: { index: number; abs: string }[] = [];
    for (let i = 0; i < n; i++) {
      const k = keys[i];
      const e = k ? cache.lookup(samples[i]!.abs, k.mtimeMs, k.bytes) : undefined;
      if (!e) todo.push(i);
      else if (e.reason !== undefined) reasons[i] = e.reason;
      else hits.push({ index: i, abs: samples[i]!.abs });
    }
    if (pixels) await cache.readInto(hits, pixels, rowBytes);
    for (const h of hits) ok[h.index] = true;
    tick(n - todo.length);
  } else {
    for (let i = 0; i < n; i++) todo.push(i);
  }

  try {
    await mapLimit(
      todo,
      concurrency,
      async (i) => {
        const s = samples[i]!;
        const k = keys[i];
        try {
          if (!k) throw new DecodeError('file not found or not readable', false);
          const row = await decodeImage(s.abs, size, channels);
          pixels?.set(row, i * rowBytes);
          ok[i] = true;
          await cache?.add(s.abs, k.mtimeMs, k.bytes, row);
        } catch (err) {
          opts.signal?.throwIfAborted();
          const reason = err instanceof DecodeError ? err.message : shortenReason(err);
          reasons[i] = reason;
          if (k && err instanceof DecodeError && err.cacheable) await cache?.add(s.abs, k.mtimeMs, k.bytes, reason);
        }
        tick(1);
      },
      opts.signal,
    );
  } finally {
    await cache?.close(); // keeps what was decoded so far, also when aborted
  }

  const skipped: SkippedFile[] = [];
  for (let i = 0; i < n; i++) if (!ok[i]) skipped.push({ path: samples[i]!.rel, reason: reasons[i] ?? 'not decoded' });
  return { ok, skipped, cache };
}
