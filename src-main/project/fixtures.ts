// Synthetic datasets and run folders for tests and bench/review-bench.ts (no engine needed).
import fs from 'node:fs';
import path from 'node:path';
import type { ScanResult } from '../dataset/types';
import { toCsv } from '../util/csv';
import { Q_F32, RUN_JSON, SAMPLES_CSV, SAMPLES_HEADER } from '../../src-shared/run-format';
import { runsDir } from './project';
import { Rng } from '../engine/rng';

/** Deterministic PRNG (mulberry32) so fixtures are reproducible. */
export function rng(seed: number): () => number {
  const r = new Rng(seed); // the engine's mulberry32: one implementation for every seeded stream
  return () => r.next();
}

/** A tiny valid 8x8 grey PNG (different bytes per seed). */
export async function tinyPng(seed: number): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  const px = Buffer.alloc(64, seed % 256);
  return sharp(px, { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer();
}

/** Writes <root>/<class>/<class>_<i>.png; returns the rel paths with their class. */
export async function makeDataset(root: string, classes: string[], perClass: number): Promise<{ rel: string; label: string }[]> {
  const out: { rel: string; label: string }[] = [];
  let k = 0;
  for (const c of classes) {
    fs.mkdirSync(path.join(root, c), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const rel = `${c}/${c}_${String(i).padStart(4, '0')}.png`;
      fs.writeFileSync(path.join(root, rel), await tinyPng(k++));
      out.push({ rel, label: c });
    }
  }
  return out;
}

export interface SyntheticRow { path: string; given: string; corrected: string; status: 'clean' | 'relabeled' | 'ood'; confidence: number; ood: number }

/** Model-like rows: ~20% relabeled, ~8% OOD, scores random. */
export function syntheticRows(files: { rel: string; label: string }[], classes: string[], seed = 1): SyntheticRow[] {
  const r = rng(seed);
  return files.map((f) => {
    const u = r();
    const status = u < 0.08 ? 'ood' : u < 0.28 ? 'relabeled' : 'clean';
    const other = classes[(classes.indexOf(f.label) + 1 + Math.floor(r() * (classes.length - 1))) % classes.length];
    return {
      path: f.rel, given: f.label, status,
      corrected: status === 'ood' ? '' : status === 'relabeled' ? other : f.label,
      confidence: Math.round(r() * 1e4) / 1e4, ood: Math.round(r() * 1e4) / 1e4,
    };
  });
}

/** Writes a run folder (samples.csv, run.json, arrays/q.f32) the way the engine does. */
export function writeRun(dir: string, datasetRoot: string, classes: string[], rows: SyntheticRow[], extra: Record<string, unknown> = {}): string {
  fs.mkdirSync(path.join(dir, 'arrays'), { recursive: true });
  fs.writeFileSync(path.join(dir, SAMPLES_CSV), toCsv(SAMPLES_HEADER, rows.map((x) => [x.path, x.given, x.corrected, x.status, x.confidence, x.ood])));
  const q = new Float32Array(rows.length * classes.length);
  rows.forEach((x, i) => {
    const target = x.status === 'ood' ? -1 : classes.indexOf(x.corrected || x.given);
    for (let k = 0; k < classes.length; k++) q[i * classes.length + k] = k === target ? 0.9 : 0.1 / Math.max(1, classes.length - 1);
  });
  fs.writeFileSync(path.join(dir, Q_F32), Buffer.from(q.buffer));
  fs.writeFileSync(path.join(dir, RUN_JSON), JSON.stringify({
    config: { method: 'mopro', epochs: 2, dataset: datasetRoot }, dataset: { root: datasetRoot, classes }, classes,
    state: 'done', epochs: [], createdAt: new Date().toISOString(), backend: { name: 'synthetic' }, ...extra,
  }));
  return dir;
}

/** Writes a run into the project's runs folder (what train.start would produce). */
export function writeProjectRun(dataDir: string, projectId: string, runId: string, datasetRoot: string, classes: string[], rows: SyntheticRow[]): string {
  return writeRun(path.join(runsDir(dataDir, projectId), runId), datasetRoot, classes, rows);
}

/** A scanner that returns a fixed list instead of reading the disk (bench: 100k rows without 100k files). */
export function listScanner(root: string, classes: string[], files: { rel: string; label: string }[]): (r: string) => Promise<ScanResult> {
  const index = new Map(classes.map((c, i) => [c, i]));
  const samples = files.map((f) => ({ rel: f.rel, abs: `${root}${path.sep}${f.rel}`, label: f.label, classIndex: index.get(f.label) ?? -1, bytes: 100, mtimeMs: 0 }));
  return async () => ({ root, classes, skipped: [], warnings: [], samples: [...samples] });
}
