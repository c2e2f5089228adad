// An unlabelled image folder disjoint from a benchmark case: every candidate image byte-identical to one of the
// case's (or its test folder's) is left out, and the rest are spread over meaningless folders by a seeded shuffle,
// so a network pretrained on it has seen none of the case's images and no class structure in its folder names.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../src-shared/rng';

export interface Candidate {
  /** where the image is now */
  file: string;
  /** sha256 of its bytes */
  hash: string;
}

export interface DisjointPlan {
  /** candidates byte-identical to an excluded image */
  removed: number;
  /** kept images and their destination, relative to the output folder */
  copies: { file: string; dest: string }[];
}

/**
 * Which candidates to keep and where each goes: candidates in path order, minus those whose hash is in `excluded`,
 * shuffled by `seed`, the j-th of the shuffle to `group-<j mod folders>/<j>.<ext>`.
 */
export function disjointPlan(cands: Candidate[], excluded: Set<string>, seed: number, folders = 10): DisjointPlan {
  if (!Number.isInteger(folders) || folders < 1) throw new Error(`folders must be a positive integer, got ${folders}`);
  const kept = [...cands]
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
    .filter((c) => !excluded.has(c.hash));
  const order = new Rng(seed).permutation(kept.length);
  return {
    removed: cands.length - kept.length,
    copies: Array.from(order, (k, j) => ({
      file: kept[k].file,
      dest: path.join(`group-${j % folders}`, `${j}${path.extname(kept[k].file)}`),
    })),
  };
}

/** Every file under `dir` (recursively), in path order. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * Writes the folder `out` (replacing it) from the images under `source`, without any byte-identical to a file
 * under one of `exclude`. Returns the counts.
 */
export function buildDisjointFolder(o: {
  source: string;
  exclude: string[];
  out: string;
  seed: number;
  folders?: number;
}): { candidates: number; removed: number; kept: number } {
  const excluded = new Set(o.exclude.flatMap(filesUnder).map(sha256));
  const cands = filesUnder(o.source).map((file) => ({ file, hash: sha256(file) }));
  const plan = disjointPlan(cands, excluded, o.seed, o.folders);
  fs.rmSync(o.out, { recursive: true, force: true });
  for (const c of plan.copies) {
    const dest = path.join(o.out, c.dest);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(c.file, dest);
  }
  return { candidates: cands.length, removed: plan.removed, kept: plan.copies.length };
}
