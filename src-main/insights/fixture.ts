// A generated project for the insights tests, e2e and bench: a small class-per-folder dataset
// with a planted duplicate (the same image in two classes: a label conflict) and two finished
// runs whose embeddings cluster by class, written the way the engine writes them.
import fs from 'node:fs';
import path from 'node:path';
import type { EpochStats } from '../../src-shared/contract';
import { makeDataset, rng, syntheticRows, writeProjectRun, type SyntheticRow } from '../project/fixtures';
import { projectIdFor } from '../project/project';
import { EMBEDDINGS_F32, PROTOTYPES_F32, RUN_JSON } from '../../src-shared/run-format';

export const EMB_DIM = 128;

/** Unit vectors around one random unit centre per class (row-major N x d), and those centres. */
export function clusteredEmbeddings(classOf: ArrayLike<number>, classes: number, d = EMB_DIM, seed = 1, spread = 0.35): { emb: Float32Array; protos: Float32Array } {
  const r = rng(seed);
  const g = (): number => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
  const unit = (v: Float32Array, o: number): void => {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[o + j] ** 2;
    const k = 1 / (Math.sqrt(s) || 1);
    for (let j = 0; j < d; j++) v[o + j] *= k;
  };
  const protos = new Float32Array(classes * d);
  for (let c = 0; c < classes; c++) { for (let j = 0; j < d; j++) protos[c * d + j] = g(); unit(protos, c * d); }
  const n = classOf.length;
  const emb = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = classOf[i];
    for (let j = 0; j < d; j++) emb[i * d + j] = (c >= 0 ? protos[c * d + j] : 0) + (spread * g()) / Math.sqrt(d) * (c >= 0 ? 1 : 3);
    unit(emb, i * d);
  }
  return { emb, protos };
}

function epochs(n: number, method: 'mopro' | 'ce', seed: number): EpochStats[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, e) => {
    const loss = (method === 'ce' ? 2.2 : 2.6) * Math.exp(-e / 3) + 0.3 + r() * 0.05;
    return {
      epoch: e, loss, lossCe: loss * 0.6, lossIns: method === 'ce' ? 0 : loss * 0.25, lossPro: method === 'ce' ? 0 : loss * 0.15,
      relabeled: method === 'ce' ? 0 : Math.round(40 * (1 - Math.exp(-e / 2))), ood: method === 'ce' ? 0 : Math.round(8 * (1 - Math.exp(-e / 2))),
      imagesPerSec: 900 + r() * 100, seconds: 1,
    };
  });
}

/** Writes embeddings (rows = samples.csv rows) and prototypes into a run folder; plants `dup` as equal rows. */
function writeArrays(dir: string, rows: SyntheticRow[], classes: string[], seed: number, dup: [number, number] | null): void {
  const classOf = rows.map((x) => (x.status === 'ood' ? -1 : classes.indexOf(x.corrected || x.given)));
  const { emb, protos } = clusteredEmbeddings(classOf, classes.length, EMB_DIM, seed);
  if (dup) emb.copyWithin(dup[1] * EMB_DIM, dup[0] * EMB_DIM, dup[0] * EMB_DIM + EMB_DIM);
  fs.writeFileSync(path.join(dir, EMBEDDINGS_F32), Buffer.from(emb.buffer));
  fs.writeFileSync(path.join(dir, PROTOTYPES_F32), Buffer.from(protos.buffer));
}

export interface InsightsFixture {
  root: string; //          dataset folder
  dataDir: string; //       app data folder holding the project and its runs
  projectId: string;
  classes: string[];
  n: number;
  dup: { a: string; b: string }; // rel paths of the planted pair (different classes)
  runs: { mopro: string; ce: string };
}

export async function makeInsightsFixture(base: string, o: { perClass?: number; classes?: string[] } = {}): Promise<InsightsFixture> {
  const classes = o.classes ?? ['bag', 'coat', 'shirt', 'sneaker'];
  const root = path.join(base, 'dataset');
  const dataDir = path.join(base, 'appdata');
  const files = await makeDataset(root, classes, o.perClass ?? 30);
  // The planted duplicate: the first coat image copied into the shirt folder.
  const a = files.find((f) => f.label === 'coat')!.rel;
  const b = 'shirt/zz_copy_of_coat.png';
  fs.copyFileSync(path.join(root, a), path.join(root, b));
  files.push({ rel: b, label: 'shirt' });
  files.sort((x, y) => (x.rel < y.rel ? -1 : x.rel > y.rel ? 1 : 0)); // the scan's order
  const projectId = projectIdFor(path.resolve(root));
  const ia = files.findIndex((f) => f.rel === a), ib = files.findIndex((f) => f.rel === b);
  const runs = { ce: '20260101T000000-ce-0001', mopro: '20260102T000000-mopro-0002' };
  for (const [method, runId, seed] of [['ce', runs.ce, 3], ['mopro', runs.mopro, 5]] as const) {
    const rows = syntheticRows(files, classes, seed).map((r) => (method === 'ce' ? { ...r, status: 'clean' as const, corrected: r.given } : r));
    // The duplicate pair: both clean in their folder's class, so the map and the pair agree.
    for (const i of [ia, ib]) rows[i] = { ...rows[i], status: 'clean', corrected: rows[i].given };
    const dir = writeProjectRun(dataDir, projectId, runId, root, classes, rows);
    const j = JSON.parse(fs.readFileSync(path.join(dir, RUN_JSON), 'utf8'));
    fs.writeFileSync(path.join(dir, RUN_JSON), JSON.stringify({
      ...j, config: { ...j.config, method, epochs: 6 }, epochs: epochs(6, method, seed), createdAt: method === 'ce' ? '2026-01-01T00:00:00Z' : '2026-01-02T00:00:00Z',
    }));
    writeArrays(dir, rows, classes, seed, [ia, ib]);
  }
  return { root, dataDir, projectId, classes, n: files.length, dup: { a, b }, runs };
}
