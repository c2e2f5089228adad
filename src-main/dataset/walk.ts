// Recursive directory walk with the dataset's filters. It only reads directory entries (no stat of
// regular files, no decoding), so it stays fast on 100k-file trees; sizes come later in one bounded
// stat pass. Symlinks: followed only when their target stays inside the root, loops never recurse.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SkippedFile } from './types.js';
import { byCodePoint } from './pool.js';
import { fsReason, hasImageExtension, isHiddenName } from './filters.js';

export interface WalkCounts { hidden: number; nonImage: number; nonImageExample?: string }
export interface Candidate { abs: string; rel: string }

export interface WalkContext {
  rootReal: string; //           realpath of the dataset root: the boundary for symlinks
  skipped: SkippedFile[];
  counts: WalkCounts;
  limit: number; //              stop collecting after this many candidates
  found: number;
}

export function newWalkContext(rootReal: string, limit = Infinity): WalkContext {
  return { rootReal, skipped: [], counts: { hidden: 0, nonImage: 0 }, limit, found: 0 };
}

export function isInside(parent: string, child: string): boolean {
  const r = path.relative(parent, child);
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r));
}

export function joinRel(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name;
}

/** What a symlink resolves to, or why it is skipped. null = ignore silently (e.g. a .txt link). */
export async function resolveLink(abs: string, name: string, ctx: WalkContext):
  Promise<{ kind: 'file' | 'dir'; real: string } | { skip: string } | null> {
  let real: string;
  try { real = await fs.realpath(abs); } catch (err) {
    // We cannot tell what a dangling link meant; only report the ones that could have been images or folders.
    if (!(hasImageExtension(name) || path.extname(name) === '')) return null;
    const code = (err as NodeJS.ErrnoException).code;
    return { skip: code === 'ENOENT' ? 'broken symlink (its target does not exist)' : fsReason(err) };
  }
  let st;
  try { st = await fs.stat(real); } catch (err) { return { skip: fsReason(err) }; }
  if (st.isDirectory()) {
    if (!isInside(ctx.rootReal, real)) return { skip: 'symlink points outside the dataset folder: not followed' };
    return { kind: 'dir', real };
  }
  if (!st.isFile() || !hasImageExtension(name)) return null;
  if (!isInside(ctx.rootReal, real)) return { skip: 'symlink points outside the dataset folder: not followed' };
  return { kind: 'file', real };
}

/**
 * Collects candidate image files under `dirAbs` (recursively). `ancestors` holds the real paths of the
 * folders on the current path: a symlinked folder that points at one of them is a loop and is skipped.
 */
export async function walkDir(dirAbs: string, relPrefix: string, ancestors: ReadonlySet<string>,
  ctx: WalkContext, out: Candidate[]): Promise<void> {
  let entries;
  try { entries = await fs.readdir(dirAbs, { withFileTypes: true }); } catch (err) {
    ctx.skipped.push({ path: relPrefix || '.', reason: `folder not readable: ${fsReason(err)}` });
    return;
  }
  entries.sort((a, b) => byCodePoint(a.name, b.name));
  for (const e of entries) {
    if (ctx.found >= ctx.limit) return;
    const abs = path.join(dirAbs, e.name);
    const rel = joinRel(relPrefix, e.name);
    if (isHiddenName(e.name)) { ctx.counts.hidden++; continue; }
    let kind: 'file' | 'dir' | null = e.isFile() ? 'file' : e.isDirectory() ? 'dir' : null;
    let real = abs;
    if (e.isSymbolicLink()) {
      const r = await resolveLink(abs, e.name, ctx);
      if (r === null) { ctx.counts.nonImage++; continue; }
      if ('skip' in r) { ctx.skipped.push({ path: rel, reason: r.skip }); continue; }
      kind = r.kind; real = r.real;
    }
    if (kind === 'dir') {
      if (e.isSymbolicLink() && ancestors.has(real)) {
        ctx.skipped.push({ path: rel, reason: 'symlink loop (points at a folder above it): not followed' });
        continue;
      }
      const next = new Set(ancestors); next.add(e.isSymbolicLink() ? real : await realOr(abs));
      await walkDir(abs, rel, next, ctx, out);
    } else if (kind === 'file') {
      if (!hasImageExtension(e.name)) {
        ctx.counts.nonImage++;
        ctx.counts.nonImageExample ??= rel;
        continue;
      }
      out.push({ abs, rel });
      ctx.found++;
    }
    // sockets, fifos, devices: not images, nothing to say
  }
}

async function realOr(p: string): Promise<string> {
  try { return await fs.realpath(p); } catch { return p; }
}

export function countWarnings(c: WalkCounts): string[] {
  const w: string[] = [];
  if (c.hidden) w.push(`${c.hidden} hidden file(s)/folder(s) (names starting with '.') ignored`);
  if (c.nonImage) {
    w.push(`${c.nonImage} non-image file(s) ignored (e.g. '${c.nonImageExample ?? '?'}'); images are jpg, jpeg, png, webp, gif, tif, tiff, avif`);
  }
  return w;
}
