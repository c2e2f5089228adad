// `npm run bench:knn` — the final pass's exact kNN (every bank row's k nearest bank rows, self skipped) on
// synthetic unit-length features, timed apart from the rest of the final pass (bench:rss --stage final times
// the whole pass; this isolates the O(N^2) step and splits it into similarity GEMM and top-k selection).
//
//   npm run bench:knn -- [--n 20000,50000] [--d 256] [--k 50] [--classes 100] [--cells 1048576] [--sorted] [--baseline]
//                        [--json out.json]
//
// Data (seeded, Rng 7): `classes` random unit centres in d dimensions, each row a centre plus Gaussian noise
// (norm ~1.3x the centre's), 20% of the given labels flipped to a random class, rows normalised to unit length;
// so neighbours are meaningful (mostly one cluster) and the label entropy varies over rows. Rows in random
// cluster order, or with --sorted in cluster order (as a folder scanned class by class).
// --baseline also runs the former path (tf.matMul with transposeB, then tf.topk, on blocks of min(256, 2^24 / N)
// query rows x the whole bank, as shipped before the tiled kNN) on the same data, and reports its time and whether both find the same neighbours and
// the same ood_score (normalised entropy of the neighbours' given labels, as in final-pass.ts).
// --cells: similarities per tile (knn's blockCells; default the engine's). Backend: wasm, one thread. Prints one
// line per N and per path (wall and CPU seconds: on a shared machine the CPU time is the steadier figure);
// --json writes all results.
import fs from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src-main/engine/backends/backend';
import { knn, neighbourShares, type KnnTiming } from '../src-main/engine/eval/ood-score';
import { normalisedEntropy } from '../src-main/engine/eval/status-rule';
import { Rng } from '../src-shared/rng';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/** process CPU seconds (user + system) */
function cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function clustered(
  n: number,
  d: number,
  classes: number,
  seed: number,
  sorted: boolean,
): { x: Float32Array; labels: Int32Array } {
  const r = new Rng(seed);
  const centres = new Float32Array(classes * d);
  for (let c = 0; c < classes; c++) {
    let z = 0;
    for (let t = 0; t < d; t++) z += (centres[c * d + t] = r.normal()) ** 2;
    for (let t = 0; t < d; t++) centres[c * d + t]! /= Math.sqrt(z);
  }
  const x = new Float32Array(n * d),
    labels = new Int32Array(n);
  const noise = 1.3 / Math.sqrt(d);
  for (let i = 0; i < n; i++) {
    const c = sorted ? Math.floor((i * classes) / n) : r.int(classes);
    labels[i] = r.next() < 0.2 ? r.int(classes) : c;
    let z = 0;
    for (let t = 0; t < d; t++) z += (x[i * d + t] = centres[c * d + t]! + noise * r.normal()) ** 2;
    const s = 1 / Math.sqrt(z);
    for (let t = 0; t < d; t++) x[i * d + t]! *= s;
  }
  return { x, labels };
}

/** The former kNN (before the threshold selection): tf.topk over each query block x bank similarity matrix. */
function knnTopk(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
  t: KnnTiming,
): { idx: Int32Array; sim: Float32Array } {
  const idx = new Int32Array(n * k).fill(-1),
    sim = new Float32Array(n * k);
  const B = tf.tensor2d(x, [n, d]);
  const want = Math.min(n, k + 1),
    block = Math.max(1, Math.min(256, Math.floor((1 << 24) / n)));
  try {
    for (let s = 0; s < n; s += block) {
      const m = Math.min(block, n - s);
      tf.tidy(() => {
        const t0 = performance.now(),
          c0 = cpu();
        const S = tf.matMul(tf.tensor2d(x.subarray(s * d, (s + m) * d), [m, d]), B, false, true);
        S.dataSync(); // the GEMM's time apart (the topk below reads the same block)
        const t1 = performance.now(),
          c1 = cpu();
        const { values, indices } = tf.topk(S, want);
        const ix = indices.dataSync(),
          vs = values.dataSync();
        for (let i = 0; i < m; i++) {
          let c = 0;
          for (let j = 0; j < want && c < k; j++) {
            const b = ix[i * want + j]!;
            if (b === s + i) continue;
            sim[(s + i) * k + c] = vs[i * want + j]!;
            idx[(s + i) * k + c++] = b;
          }
        }
        t.gemmMs += t1 - t0;
        t.selectMs += performance.now() - t1;
        t.gemmCpuMs += (c1 - c0) * 1000;
        t.selectCpuMs += (cpu() - c1) * 1000;
      });
    }
  } finally {
    B.dispose();
  }
  return { idx, sim };
}

interface Row {
  path: string;
  n: number;
  d: number;
  k: number;
  seconds: number;
  cpuSeconds: number;
  gemmSeconds: number;
  selectSeconds: number;
  gemmCpuSeconds: number;
  selectCpuSeconds: number;
  /** the process's peak RSS so far (MB): the features, the k-best lists and one tile, not N x N */
  peakRssMB: number;
  sameSets?: number;
  maxOodDiff?: number;
}

function compare(
  a: { idx: Int32Array; sim: Float32Array },
  b: { idx: Int32Array; sim: Float32Array },
  n: number,
  k: number,
  labels: Int32Array,
  K: number,
): { sameSets: number; maxOodDiff: number } {
  let same = 0;
  for (let i = 0; i < n; i++) {
    const sa = new Set(a.idx.subarray(i * k, (i + 1) * k)),
      sb = b.idx.subarray(i * k, (i + 1) * k);
    if (sb.every((j) => sa.has(j))) same++;
  }
  const ea = normalisedEntropy(neighbourShares(a, k, labels, K), K),
    eb = normalisedEntropy(neighbourShares(b, k, labels, K), K);
  let mx = 0;
  for (let i = 0; i < n; i++) mx = Math.max(mx, Math.abs(ea[i]! - eb[i]!));
  return { sameSets: same / n, maxOodDiff: mx };
}

async function main(): Promise<void> {
  const ns = arg('n', '20000').split(',').map(Number),
    d = Number(arg('d', '256')),
    k = Number(arg('k', '50')),
    K = Number(arg('classes', '100')),
    cells = arg('cells', '') ? Number(arg('cells', '')) : undefined;
  const backend = await selectBackend('wasm');
  console.log(
    `backend ${backend.name} (${backend.reason}); ${os.cpus()[0]?.model} x${os.cpus().length}; d ${d}, k ${k}`,
  );
  const rows: Row[] = [];
  for (const n of ns) {
    const { x, labels } = clustered(n, d, K, 7, process.argv.includes('--sorted'));
    const before = tf.memory().numTensors;
    /** Runs one kNN path and its row: wall and process CPU seconds, the GEMM / selection split, peak RSS. */
    const timed = (path: string, run: (t: KnnTiming) => { idx: Int32Array; sim: Float32Array }) => {
      const t: KnnTiming = { gemmMs: 0, selectMs: 0, gemmCpuMs: 0, selectCpuMs: 0 };
      const t0 = performance.now(),
        c0 = cpu();
      const out = run(t);
      const row: Row = {
        path,
        n,
        d,
        k,
        seconds: (performance.now() - t0) / 1000,
        cpuSeconds: cpu() - c0,
        gemmSeconds: t.gemmMs / 1000,
        selectSeconds: t.selectMs / 1000,
        gemmCpuSeconds: t.gemmCpuMs / 1000,
        selectCpuSeconds: t.selectCpuMs / 1000,
        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      };
      return { out, row };
    };
    const engine = timed('engine', (t) => knn(x, n, x, n, d, k, 0, cells, t));
    const got = engine.out;
    rows.push(engine.row);
    console.log(JSON.stringify(engine.row));
    if (process.argv.includes('--baseline')) {
      const former = timed('former tf.topk', (t) => knnTopk(x, n, d, k, t));
      const b: Row = { ...former.row, ...compare(got, former.out, n, k, labels, K) };
      rows.push(b);
      console.log(JSON.stringify(b));
    }
    if (tf.memory().numTensors !== before) throw new Error(`tensors leaked: ${before} -> ${tf.memory().numTensors}`);
  }
  const out = arg('json', '');
  if (out) fs.writeFileSync(out, JSON.stringify({ backend: backend.name, cpu: os.cpus()[0]?.model, rows }, null, 2));
}

await main();
