// Class-per-folder dataset scan: every immediate sub-folder of the root is a class, image files are
// collected recursively inside it. No decoding here (that happens in decode.ts, with a cache);
// only directory reads plus one stat per candidate with bounded concurrency.
import fs from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import path from 'node:path';
import { DatasetError, type DatasetSample, type ScanResult, type SkippedFile } from './types.js';
import { byCodePoint, mapLimit } from './pool.js';
import { fsReason, isHiddenName } from './filters.js';
import { countWarnings, newWalkContext, resolveLink, walkDir, type Candidate, type WalkContext } from './walk.js';

export interface ScanOptions {
  onProgress?(done: number, total: number): void;
  /** Stop collecting after this many images (deterministic: folders are walked in code-point order). */
  maxFiles?: number;
}

const STAT_CONCURRENCY = 64;

/** Throws DatasetError unless `root` is an existing folder; returns its absolute path and realpath. */
export async function checkRootFolder(root: string, what = 'dataset folder'): Promise<{ abs: string; real: string }> {
  const abs = path.resolve(root);
  let st;
  try { st = await fs.stat(abs); } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new DatasetError(`${what} not found: '${abs}': check the path`);
    throw new DatasetError(`${what} '${abs}' cannot be opened (${fsReason(err)}): check its permissions`);
  }
  if (!st.isDirectory()) {
    throw new DatasetError(`'${abs}' is a file, not a folder: give the ${what} that holds one sub-folder per class`);
  }
  return { abs, real: await fs.realpath(abs) };
}

interface StatOk { ok: true; bytes: number; mtimeMs: number }
interface StatBad { ok: false; reason: string }

/** Size, mtime and readability of one candidate; zero-byte and unreadable files get a skip reason. */
export async function statCandidate(abs: string): Promise<StatOk | StatBad> {
  try {
    const st = await fs.stat(abs);
    if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
    if (st.size === 0) return { ok: false, reason: 'empty file (0 bytes)' };
    await fs.access(abs, fsc.R_OK);
    return { ok: true, bytes: st.size, mtimeMs: st.mtimeMs };
  } catch (err) {
    return { ok: false, reason: fsReason(err) };
  }
}

export async function scanDataset(root: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const { abs: rootAbs, real: rootReal } = await checkRootFolder(root);
  const ctx: WalkContext = newWalkContext(rootReal, opts.maxFiles ?? Infinity);

  let top;
  try { top = await fs.readdir(rootAbs, { withFileTypes: true }); } catch (err) {
    throw new DatasetError(`dataset folder '${rootAbs}' cannot be listed (${fsReason(err)}): check its permissions`);
  }
  top.sort((a, b) => byCodePoint(a.name, b.name));

  const classDirs: string[] = [];
  let looseFiles = 0;
  const perClass = new Map<string, Candidate[]>();
  for (const e of top) {
    if (isHiddenName(e.name)) { ctx.counts.hidden++; continue; }
    const abs = path.join(rootAbs, e.name);
    let isDir = e.isDirectory();
    let real = abs;
    if (e.isSymbolicLink()) {
      const r = await resolveLink(abs, e.name, ctx);
      if (r && 'skip' in r) { ctx.skipped.push({ path: e.name, reason: r.skip }); continue; }
      isDir = r?.kind === 'dir';
      if (r && 'real' in r) real = r.real;
    } else if (isDir) {
      real = await fs.realpath(abs).catch(() => abs);
    }
    if (!isDir) { looseFiles++; continue; }
    classDirs.push(e.name);
    const files: Candidate[] = [];
    await walkDir(abs, e.name, new Set([rootReal, real]), ctx, files);
    perClass.set(e.name, files);
  }

  if (classDirs.length === 0) {
    throw new DatasetError(`no class folders in '${rootAbs}': put each class's images in its own sub-folder (e.g. '${path.join(rootAbs, 'cat')}')`);
  }

  // One bounded stat pass over all candidates (size, mtime, zero-byte and readability checks).
  const all: { c: Candidate; label: string }[] = [];
  for (const [label, files] of perClass) for (const c of files) all.push({ c, label });
  let done = 0;
  opts.onProgress?.(0, all.length);
  const stats = await mapLimit(all, STAT_CONCURRENCY, async ({ c }) => {
    const s = await statCandidate(c.abs);
    done++;
    if (opts.onProgress && (done % 1000 === 0 || done === all.length)) opts.onProgress(done, all.length);
    return s;
  });

  const skipped: SkippedFile[] = [...ctx.skipped];
  const good: { c: Candidate; label: string; bytes: number; mtimeMs: number }[] = [];
  all.forEach((a, i) => {
    const s = stats[i]!;
    if (s.ok) good.push({ ...a, bytes: s.bytes, mtimeMs: s.mtimeMs });
    else skipped.push({ path: a.c.rel, reason: s.reason });
  });

  const warnings: string[] = [];
  const withImages = new Set(good.map((g) => g.label));
  for (const d of classDirs) if (!withImages.has(d)) warnings.push(`class folder '${d}' has no images: excluded`);
  if (looseFiles) warnings.push(`${looseFiles} file(s) directly in the dataset folder ignored: images must be inside a class sub-folder`);
  warnings.push(...countWarnings(ctx.counts));
  if (ctx.found >= ctx.limit) warnings.push(`scan stopped at ${ctx.limit} images (maxFiles): the rest of the folder was not read`);

  const classes = classDirs.filter((d) => withImages.has(d)); // already code-point sorted
  if (classes.length === 0) {
    throw new DatasetError(`no images found in the class folders of '${rootAbs}': add jpg/png/webp/gif/tiff/avif images to them`);
  }
  if (classes.length === 1) {
    throw new DatasetError(`only one class folder ('${classes[0]}') has images in '${rootAbs}': add at least one more class folder with images`);
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const samples: DatasetSample[] = good.map((g) => ({
    rel: g.c.rel, abs: g.c.abs, label: g.label, classIndex: index.get(g.label)!, bytes: g.bytes, mtimeMs: g.mtimeMs,
  }));
  samples.sort((a, b) => byCodePoint(a.rel, b.rel));
  skipped.sort((a, b) => byCodePoint(a.path, b.path));
  return { root: rootAbs, classes, samples, skipped, warnings };
}

export interface ListedImage { abs: string; rel: string; bytes: number; mtimeMs: number }

/**
 * Every image under `folder`, recursively, with the same filters as the scan (for `predict`: no class
 * structure). Files that cannot be used (zero bytes, unreadable, symlink problems) land in `skipped`.
 */
export async function listImages(folder: string): Promise<{ files: ListedImage[]; skipped: SkippedFile[]; warnings: string[] }> {
  const { abs, real } = await checkRootFolder(folder, 'image folder');
  const ctx = newWalkContext(real);
  const found: Candidate[] = [];
  await walkDir(abs, '', new Set([real]), ctx, found);
  const stats = await mapLimit(found, STAT_CONCURRENCY, (c) => statCandidate(c.abs));
  const files: ListedImage[] = [];
  const skipped = [...ctx.skipped];
  found.forEach((c, i) => {
    const s = stats[i]!;
    if (s.ok) files.push({ abs: c.abs, rel: c.rel, bytes: s.bytes, mtimeMs: s.mtimeMs });
    else skipped.push({ path: c.rel, reason: s.reason });
  });
  files.sort((a, b) => byCodePoint(a.rel, b.rel));
  skipped.sort((a, b) => byCodePoint(a.path, b.path));
  return { files, skipped, warnings: countWarnings(ctx.counts) };
}

/** The usable images under `folder` (see listImages for the skipped ones), sorted by rel. */
export async function listImagesRecursive(folder: string): Promise<ListedImage[]> {
  return (await listImages(folder)).files;
}
