// Recursive directory walk with the dataset's filters. It reads directory entries and stats folders
// only (regular files are stat'ed later in one bounded pass), so it stays fast on 100k-file trees.
//
// Bounded whatever the links: every real folder (device + inode) is walked once, so folders that link
// to each other cost one visit each instead of one per path. Folder links are followed only after all
// real folders were walked, so a folder keeps its real path and a link to it is reported, not walked
// again. A link that leaves the root, points at a folder above it (a loop), or leads into another class
// folder is skipped with a named reason. The walk checks an AbortSignal between folders and reports
// how many files and folders it has seen.
import fs from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, type SkippedFile } from './types.js';
import { byCodePoint } from './pool.js';
import { fsReason, hasImageExtension, isHiddenName } from './filters.js';

export interface WalkCounts {
  hidden: number;
  nonImage: number;
  nonImageExample?: string;
}
/** `link`: reached through a file symlink (a real path to the same file is preferred when both are listed). */
export interface Candidate {
  abs: string;
  rel: string;
  link?: boolean;
}

/** The scan was cancelled (AbortSignal): nothing partial is returned. */
export class ScanCancelled extends DatasetError {
  readonly cancelled = true;
  constructor(root: string) {
    super(`scan of '${root}' cancelled`);
  }
}

interface DeferredLink {
  abs: string;
  rel: string;
  real: string;
  ancestors: ReadonlySet<string>;
  out: Candidate[];
  cls: string | null;
}

export interface WalkOptions {
  signal?: AbortSignal;
  /** Called now and then (at most every 200 ms) with the image files and folders seen so far. */
  onWalk?(files: number, folders: number): void;
}

export interface WalkContext {
  rootReal: string; //           realpath of the dataset root: the boundary for symlinks
  skipped: SkippedFile[];
  counts: WalkCounts;
  limit: number; //              stop collecting after this many candidates
  found: number;
  folders: number;
  /** device:inode of every folder walked -> the rel path it was walked under. */
  visited: Map<string, string>;
  /** Class folders (name, real path): a link from one class into another is not followed. */
  classes: { name: string; real: string }[];
  /** "a -> b" -> how many links lead from class a into class b, with one example. */
  crossLinks: Map<string, { count: number; example: string }>;
  deferred: DeferredLink[];
  signal?: AbortSignal;
  onWalk?(files: number, folders: number): void;
  lastReport: number;
}

export function newWalkContext(rootReal: string, limit = Infinity, o: WalkOptions = {}): WalkContext {
  return {
    rootReal,
    skipped: [],
    counts: { hidden: 0, nonImage: 0 },
    limit,
    found: 0,
    folders: 0,
    visited: new Map(),
    classes: [],
    crossLinks: new Map(),
    deferred: [],
    signal: o.signal,
    onWalk: o.onWalk,
    lastReport: Date.now(),
  };
}

export function isInside(parent: string, child: string): boolean {
  const r = path.relative(parent, child);
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r));
}

export function joinRel(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name;
}

/** Identity of a real file or folder, whatever path reaches it. */
export function fileKey(st: { dev: number; ino: number }): string {
  return `${st.dev}:${st.ino}`;
}

export function checkCancelled(ctx: WalkContext): void {
  if (ctx.signal?.aborted) throw new ScanCancelled(ctx.rootReal);
}

function report(ctx: WalkContext, force = false): void {
  if (!ctx.onWalk) return;
  const now = Date.now();
  if (!force && now - ctx.lastReport < 200) return;
  ctx.lastReport = now;
  ctx.onWalk(ctx.found, ctx.folders);
}

/** The class folder that holds `real` other than `cls`, if any. */
function otherClass(ctx: WalkContext, real: string, cls: string | null): { name: string } | undefined {
  return cls === null ? undefined : ctx.classes.find((c) => c.name !== cls && isInside(c.real, real));
}

export function noteCrossLink(ctx: WalkContext, from: string, to: string, rel: string): void {
  const k = `${from}\u0000${to}`;
  const c = ctx.crossLinks.get(k);
  if (c) c.count++;
  else ctx.crossLinks.set(k, { count: 1, example: rel });
}

/** What a symlink resolves to, or why it is skipped. null = ignore silently (e.g. a .txt link). */
export async function resolveLink(
  abs: string,
  name: string,
  ctx: WalkContext,
): Promise<{ kind: 'file' | 'dir'; real: string } | { skip: string } | null> {
  let real: string;
  try {
    real = await fs.realpath(abs);
  } catch (err) {
    // We cannot tell what a dangling link meant; only report the ones that could have been images or folders.
    if (!(hasImageExtension(name) || path.extname(name) === '')) return null;
    const code = (err as NodeJS.ErrnoException).code;
    return { skip: code === 'ENOENT' ? 'broken symlink (its target does not exist)' : fsReason(err) };
  }
  let st;
  try {
    st = await fs.stat(real);
  } catch (err) {
    return { skip: fsReason(err) };
  }
  if (st.isDirectory()) {
    if (!isInside(ctx.rootReal, real)) return { skip: 'symlink points outside the dataset folder: not followed' };
    return { kind: 'dir', real };
  }
  if (!st.isFile() || !hasImageExtension(name)) return null;
  if (!isInside(ctx.rootReal, real)) return { skip: 'symlink points outside the dataset folder: not followed' };
  return { kind: 'file', real };
}

/**
 * Collects candidate image files under `dirAbs` (recursively, real folders only; folder links are queued
 * in ctx.deferred for followLinks). `ancestors` holds the device:inode keys of the folders on the current
 * path, `dirAbs` included; `cls` is the class being walked (null for a flat listing).
 */
export async function walkDir(
  dirAbs: string,
  relPrefix: string,
  ancestors: ReadonlySet<string>,
  ctx: WalkContext,
  out: Candidate[],
  cls: string | null = null,
): Promise<void> {
  checkCancelled(ctx);
  let entries;
  try {
    entries = await fs.readdir(dirAbs, { withFileTypes: true });
  } catch (err) {
    ctx.skipped.push({ path: relPrefix || '.', reason: `folder not readable: ${fsReason(err)}` });
    return;
  }
  ctx.folders++;
  report(ctx);
  entries.sort((a, b) => byCodePoint(a.name, b.name));
  for (const e of entries) {
    if (ctx.found >= ctx.limit) return;
    const abs = path.join(dirAbs, e.name);
    const rel = joinRel(relPrefix, e.name);
    if (isHiddenName(e.name)) {
      ctx.counts.hidden++;
      continue;
    }
    if (e.isSymbolicLink()) {
      const r = await resolveLink(abs, e.name, ctx);
      if (r === null) {
        ctx.counts.nonImage++;
        continue;
      }
      if ('skip' in r) {
        ctx.skipped.push({ path: rel, reason: r.skip });
        continue;
      }
      if (r.kind === 'dir') {
        ctx.deferred.push({ abs, rel, real: r.real, ancestors, out, cls });
        continue;
      }
      out.push({ abs, rel, link: true });
      ctx.found++;
    } else if (e.isDirectory()) {
      let st;
      try {
        st = await fs.stat(abs);
      } catch (err) {
        ctx.skipped.push({ path: rel, reason: `folder not readable: ${fsReason(err)}` });
        continue;
      }
      const key = fileKey(st);
      if (ancestors.has(key)) {
        ctx.skipped.push({
          path: rel,
          reason: 'folder loop (the folder contains itself, e.g. through a bind mount): not followed',
        });
        continue;
      }
      const first = ctx.visited.get(key);
      if (first !== undefined) {
        ctx.skipped.push({ path: rel, reason: `same folder as '${first}': scanned once` });
        continue;
      }
      ctx.visited.set(key, rel);
      await walkDir(abs, rel, new Set(ancestors).add(key), ctx, out, cls);
    } else if (e.isFile()) {
      if (!hasImageExtension(e.name)) {
        ctx.counts.nonImage++;
        ctx.counts.nonImageExample ??= rel;
        continue;
      }
      out.push({ abs, rel });
      ctx.found++;
      if ((ctx.found & 255) === 0) report(ctx);
    }
    // sockets, fifos, devices: not images, nothing to say
  }
}

/** Follows the queued folder links (and the links found inside them) once every real folder was walked. */
export async function followLinks(ctx: WalkContext): Promise<void> {
  while (ctx.deferred.length && ctx.found < ctx.limit) {
    checkCancelled(ctx);
    const d = ctx.deferred.shift()!;
    let st;
    try {
      st = await fs.stat(d.real);
    } catch (err) {
      ctx.skipped.push({ path: d.rel, reason: fsReason(err) });
      continue;
    }
    const key = fileKey(st);
    if (d.ancestors.has(key)) {
      ctx.skipped.push({ path: d.rel, reason: 'symlink loop (points at a folder above it): not followed' });
      continue;
    }
    const other = otherClass(ctx, d.real, d.cls);
    if (other) {
      noteCrossLink(ctx, d.cls!, other.name, d.rel);
      ctx.skipped.push({
        path: d.rel,
        reason: `symlink into class folder '${other.name}': not followed (those images count in '${other.name}')`,
      });
      continue;
    }
    const first = ctx.visited.get(key);
    if (first !== undefined) {
      ctx.skipped.push({ path: d.rel, reason: `symlink to a folder already scanned as '${first}': counted once` });
      continue;
    }
    ctx.visited.set(key, d.rel);
    await walkDir(d.abs, d.rel, new Set(d.ancestors).add(key), ctx, d.out, d.cls);
  }
  report(ctx, true);
}

export function countWarnings(c: WalkCounts): string[] {
  const w: string[] = [];
  if (c.hidden) w.push(`${c.hidden} hidden file(s)/folder(s) (names starting with '.') ignored`);
  if (c.nonImage) {
    w.push(
      `${c.nonImage} non-image file(s) ignored (e.g. '${c.nonImageExample ?? '?'}'); images are jpg, jpeg, png, webp, gif, tif, tiff, avif`,
    );
  }
  return w;
}

/** One warning per pair of classes linked together (links from one class folder into another). */
export function crossLinkWarnings(ctx: WalkContext): string[] {
  return [...ctx.crossLinks].map(([k, v]) => {
    const [from, to] = k.split('\u0000');
    return `class folder '${from}' links into class folder '${to}' (${v.count} link(s), e.g. '${v.example}'): each image counts once, in '${to}'`;
  });
}
