// Class-per-folder dataset scan: every immediate sub-folder of the root is a class, image files are
// collected recursively inside it. No decoding here (that happens in decode.ts, with a cache);
// only directory reads plus one stat per candidate with bounded concurrency. Each real file counts
// once, however many links or hard links reach it (walk.ts bounds the folders the same way).
import fs from 'node:fs/promises';
import { constants as fsc, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatasetError, type DatasetSample, type ScanResult, type SkippedFile } from './types.js';
import { byCodePoint, mapLimit } from './pool.js';
import { fsReason, isHiddenName } from './filters.js';
import {
  checkCancelled,
  countWarnings,
  crossLinkWarnings,
  fileKey,
  followLinks,
  isInside,
  newWalkContext,
  noteCrossLink,
  resolveLink,
  walkDir,
  type Candidate,
  type WalkContext,
  type WalkOptions,
} from './walk.js';

export { ScanCancelled } from './walk.js';

export interface ScanOptions extends WalkOptions {
  /** The stat pass: `done` of `total` candidate files checked. */
  onProgress?(done: number, total: number): void;
  /** Stop collecting after this many images (deterministic: folders are walked in code-point order). */
  maxFiles?: number;
}

const STAT_CONCURRENCY = 64;

/** Throws DatasetError unless `root` is an existing folder; returns its absolute path and realpath. */
export async function checkRootFolder(root: string, what = 'dataset folder'): Promise<{ abs: string; real: string }> {
  const abs = path.resolve(root);
  let st;
  try {
    st = await fs.stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new DatasetError(`${what} not found: '${abs}': check the path`);
    throw new DatasetError(`${what} '${abs}' cannot be opened (${fsReason(err)}): check its permissions`);
  }
  if (!st.isDirectory()) {
    throw new DatasetError(`'${abs}' is a file, not a folder: give the ${what} that holds one sub-folder per class`);
  }
  const real = await fs.realpath(abs);
  const sys = systemFolder(real);
  if (sys)
    throw new DatasetError(
      `'${abs}' is ${sys}, not a dataset: a scan would read far more than one dataset (and might never end); open the folder that holds one sub-folder per class`,
    );
  return { abs, real };
}

/** Pseudo file systems: their files are not images, and some never end (/proc/<pid>/root loops). */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];
/** Folders that hold every user's home. */
const HOMES_ROOTS = ['/home', '/Users'];

/** Why `real` (a real path) is a system folder no scan should walk, or null. */
export function systemFolder(real: string, home = os.homedir()): string | null {
  const r = path.resolve(real);
  if (path.parse(r).root === r) return 'the root of a file system or drive';
  for (const p of PSEUDO_ROOTS) if (process.platform !== 'win32' && isInside(p, r)) return `a system folder (${p})`;
  if (process.platform !== 'win32' && HOMES_ROOTS.includes(r)) return 'the folder of all home folders';
  const homes = new Set(
    [home, process.env.HOME ?? '', process.env.USERPROFILE ?? ''].filter(Boolean).map((h) => path.resolve(h)),
  );
  for (const h of [...homes]) {
    try {
      homes.add(realpathSync(h));
    } catch {
      /* gone: compare as given */
    }
  }
  if (homes.has(r)) return 'a home folder itself';
  return null;
}

interface StatOk {
  ok: true;
  bytes: number;
  mtimeMs: number;
  key: string;
}
interface StatBad {
  ok: false;
  reason: string;
}

/** Size, mtime and readability of one candidate; zero-byte and unreadable files get a skip reason. */
export async function statCandidate(abs: string): Promise<StatOk | StatBad> {
  try {
    const st = await fs.stat(abs);
    if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
    if (st.size === 0) return { ok: false, reason: 'empty file (0 bytes)' };
    await fs.access(abs, fsc.R_OK);
    return { ok: true, bytes: st.size, mtimeMs: st.mtimeMs, key: fileKey(st) };
  } catch (err) {
    return { ok: false, reason: fsReason(err) };
  }
}

/**
 * Stats every candidate (bounded concurrency) and keeps each real file once: among candidates that are
 * the same file (device + inode: a symlink, a hard link), the first one reached by a real path wins,
 * else the first. The others are skipped with the path they duplicate.
 */
async function statAndDedupe<C extends Candidate>(
  all: readonly C[],
  ctx: WalkContext,
  classOf: (c: C) => string | null,
  onProgress?: (done: number, total: number) => void,
): Promise<{ good: { c: C; bytes: number; mtimeMs: number }[]; skipped: SkippedFile[] }> {
  let done = 0;
  onProgress?.(0, all.length);
  const stats = await mapLimit(
    all,
    STAT_CONCURRENCY,
    async (c) => {
      const st = await statCandidate(c.abs);
      done++;
      if (onProgress && (done % 1000 === 0 || done === all.length)) onProgress(done, all.length);
      return st;
    },
    ctx.signal,
  ).catch((e: unknown) => {
    checkCancelled(ctx);
    throw e;
  });
  checkCancelled(ctx);
  const keeper = new Map<string, number>();
  all.forEach((c, i) => {
    const s = stats[i]!;
    if (!s.ok) return;
    const k = keeper.get(s.key);
    if (k === undefined || (all[k]!.link && !c.link)) keeper.set(s.key, i);
  });
  const good: { c: C; bytes: number; mtimeMs: number }[] = [];
  const skipped: SkippedFile[] = [];
  all.forEach((c, i) => {
    const s = stats[i]!;
    if (!s.ok) {
      skipped.push({ path: c.rel, reason: s.reason });
      return;
    }
    const k = keeper.get(s.key)!;
    if (k === i) {
      good.push({ c, bytes: s.bytes, mtimeMs: s.mtimeMs });
      return;
    }
    const first = all[k]!,
      from = classOf(c),
      to = classOf(first);
    if (from !== null && to !== null && from !== to && c.link) noteCrossLink(ctx, from, to, c.rel);
    skipped.push({
      path: c.rel,
      reason: `same file as '${first.rel}'${c.link ? ' (a symlink to it)' : first.link ? '' : ' (a hard link)'}: counted once`,
    });
  });
  return { good, skipped };
}

export async function scanDataset(root: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const { abs: rootAbs, real: rootReal } = await checkRootFolder(root);
  const ctx: WalkContext = newWalkContext(rootReal, opts.maxFiles ?? Infinity, opts);
  const rootKey = fileKey(await fs.stat(rootAbs));
  ctx.visited.set(rootKey, '.');

  let top;
  try {
    top = await fs.readdir(rootAbs, { withFileTypes: true });
  } catch (err) {
    throw new DatasetError(`dataset folder '${rootAbs}' cannot be listed (${fsReason(err)}): check its permissions`);
  }
  top.sort((a, b) => byCodePoint(a.name, b.name));

  // Class folders: real ones claim their folders first; a linked class folder is a class of its own
  // only when it leads to a folder that no other class holds.
  const found: { name: string; abs: string; real: string; key: string; link: boolean }[] = [];
  let looseFiles = 0;
  for (const e of top) {
    if (isHiddenName(e.name)) {
      ctx.counts.hidden++;
      continue;
    }
    const abs = path.join(rootAbs, e.name);
    if (e.isSymbolicLink()) {
      const r = await resolveLink(abs, e.name, ctx);
      if (r && 'skip' in r) {
        ctx.skipped.push({ path: e.name, reason: r.skip });
        continue;
      }
      if (r?.kind !== 'dir') {
        looseFiles++;
        continue;
      }
      try {
        found.push({ name: e.name, abs, real: r.real, key: fileKey(await fs.stat(r.real)), link: true });
      } catch (err) {
        ctx.skipped.push({ path: e.name, reason: `folder not readable: ${fsReason(err)}` });
      }
    } else if (e.isDirectory()) {
      try {
        const key = fileKey(await fs.stat(abs));
        found.push({ name: e.name, abs, real: await fs.realpath(abs), key, link: false });
      } catch (err) {
        ctx.skipped.push({ path: e.name, reason: `folder not readable: ${fsReason(err)}` });
      }
    } else looseFiles++;
  }
  for (const c of found)
    if (!c.link) {
      ctx.visited.set(c.key, c.name);
      ctx.classes.push({ name: c.name, real: c.real });
    }
  const classDirs: typeof found = [];
  for (const c of found) {
    if (c.link) {
      if (c.key === rootKey) {
        ctx.skipped.push({ path: c.name, reason: 'symlink loop (points at the dataset folder itself): not followed' });
        continue;
      }
      const owner = ctx.classes.find((x) => isInside(x.real, c.real));
      if (owner) {
        noteCrossLink(ctx, c.name, owner.name, c.name);
        ctx.skipped.push({
          path: c.name,
          reason: `class folder is a symlink into class folder '${owner.name}': not a separate class (those images count in '${owner.name}')`,
        });
        continue;
      }
      const first = ctx.visited.get(c.key);
      if (first !== undefined) {
        ctx.skipped.push({
          path: c.name,
          reason: `symlink to a folder already scanned as '${first}': not a separate class`,
        });
        continue;
      }
      ctx.visited.set(c.key, c.name);
      ctx.classes.push({ name: c.name, real: c.real });
    }
    classDirs.push(c);
  }

  if (classDirs.length === 0) {
    throw new DatasetError(
      `no class folders in '${rootAbs}': put each class's images in its own sub-folder (e.g. '${path.join(rootAbs, 'cat')}')`,
    );
  }

  const perClass = new Map<string, Candidate[]>();
  for (const c of classDirs) {
    const files: Candidate[] = [];
    perClass.set(c.name, files);
    await walkDir(c.abs, c.name, new Set([rootKey, c.key]), ctx, files, c.name);
  }
  await followLinks(ctx);

  // One bounded stat pass over all candidates (size, mtime, zero-byte and readability checks, one entry per real file).
  const all: (Candidate & { label: string })[] = [];
  for (const [label, files] of perClass) for (const c of files) all.push({ ...c, label });
  const { good, skipped: statSkipped } = await statAndDedupe(all, ctx, (c) => c.label, opts.onProgress);
  const skipped: SkippedFile[] = [...ctx.skipped, ...statSkipped];

  const warnings: string[] = [];
  const withImages = new Set(good.map((g) => g.c.label));
  for (const d of classDirs)
    if (!withImages.has(d.name)) warnings.push(`class folder '${d.name}' has no images: excluded`);
  if (looseFiles)
    warnings.push(
      `${looseFiles} file(s) directly in the dataset folder ignored: images must be inside a class sub-folder`,
    );
  warnings.push(...crossLinkWarnings(ctx));
  warnings.push(...countWarnings(ctx.counts));
  if (ctx.found >= ctx.limit)
    warnings.push(`scan stopped at ${ctx.limit} images (maxFiles): the rest of the folder was not read`);

  const classes = classDirs.map((d) => d.name).filter((d) => withImages.has(d)); // already code-point sorted
  if (classes.length === 0) {
    throw new DatasetError(
      `no images found in the class folders of '${rootAbs}': add jpg/png/webp/gif/tiff/avif images to them`,
    );
  }
  if (classes.length === 1) {
    throw new DatasetError(
      `only one class folder ('${classes[0]}') has images in '${rootAbs}': add at least one more class folder with images`,
    );
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const samples: DatasetSample[] = good.map((g) => ({
    rel: g.c.rel,
    abs: g.c.abs,
    label: g.c.label,
    classIndex: index.get(g.c.label)!,
    bytes: g.bytes,
    mtimeMs: g.mtimeMs,
  }));
  samples.sort((a, b) => byCodePoint(a.rel, b.rel));
  skipped.sort((a, b) => byCodePoint(a.path, b.path));
  return { root: rootAbs, classes, samples, skipped, warnings };
}

export interface ListedImage {
  abs: string;
  rel: string;
  bytes: number;
  mtimeMs: number;
}

/**
 * Every image under `folder`, recursively, with the same filters and bounds as the scan (for `predict`:
 * no class structure). Files that cannot be used (zero bytes, unreadable, symlink problems, a second path
 * to a file already listed) land in `skipped`.
 */
export async function listImages(
  folder: string,
  opts: WalkOptions = {},
): Promise<{ files: ListedImage[]; skipped: SkippedFile[]; warnings: string[] }> {
  const { abs, real } = await checkRootFolder(folder, 'image folder');
  const ctx = newWalkContext(real, Infinity, opts);
  const rootKey = fileKey(await fs.stat(abs));
  ctx.visited.set(rootKey, '.');
  const found: Candidate[] = [];
  await walkDir(abs, '', new Set([rootKey]), ctx, found);
  await followLinks(ctx);
  const { good, skipped: statSkipped } = await statAndDedupe(found, ctx, () => null);
  const files: ListedImage[] = good.map((g) => ({ abs: g.c.abs, rel: g.c.rel, bytes: g.bytes, mtimeMs: g.mtimeMs }));
  const skipped = [...ctx.skipped, ...statSkipped];
  files.sort((a, b) => byCodePoint(a.rel, b.rel));
  skipped.sort((a, b) => byCodePoint(a.path, b.path));
  return { files, skipped, warnings: countWarnings(ctx.counts) };
}

/** The usable images under `folder` (see listImages for the skipped ones), sorted by rel. */
export async function listImagesRecursive(folder: string): Promise<ListedImage[]> {
  return (await listImages(folder)).files;
}
