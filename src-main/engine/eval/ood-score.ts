// ood_score: a 0..1 score that RANKS out-of-distribution images first (issue 2 wants AUROC >= 0.9).
// MoPro's own rule flags OOD only through the 1/K test on q (kept as `status`); a ranking needs a
// continuous score. Measured candidates, MoPro run on 10k noisy Fashion-MNIST + 10% MNIST digits,
// 10 epochs (AUROC; CE run in brackets):
//   1 - max p 27% [92%], 1 - max q 25%, energy 39%, kNN distance 29-32% (INVERTED for MoPro: the digits
//   form tight clusters that MoPro relabels into some class and then predicts confidently),
//   distance to the nearest prototype 43%,
//   neighbour-label impurity k=10 90.0%, k=20 96.7%, k=50 99.1% [99.5%];
//   similarity-weighted (exp(cos/0.1)) k=50 99.1% [99.5%]  <- chosen ('knn-label'): no ties
// Why it works: OOD images carry random web labels, so the labels of their nearest neighbours in the
// embedding space (mostly other OOD images) are spread over all classes; an in-distribution image's
// neighbours share mostly one (its true) class label, even under heavy symmetric label noise.
// Score = 1 - largest weighted share of one given label among the k nearest neighbours, weights
// exp(cos/0.1); k = min(50, max(5, N / 2K)) so that small datasets still have same-class neighbours.
// This is predict's score. The training run's final pass (final-pass.ts) uses the same neighbour shares in the
// backbone's features, k = 50, scored by their normalised entropy (measurements in the engine README).
import * as tf from '@tensorflow/tfjs';
import { readEach, readEachSync, type ReadPass } from '../backends/read-back';

export const KNN_TEMP = 0.1;
export function knnK(bankSize: number, K: number): number {
  return Math.min(50, Math.max(5, Math.floor(bankSize / (2 * K))));
}

/** Similarities held at once by knn (one query tile x bank tile, 1024 x 1024): 4 MB whatever the bank's size
 *  (knnAsync: two tiles).
 *  Measured on wasm (20k x 256, bench/knn-bench.ts): GEMM CPU time 4.2 s in tiles of 1024, 4.4 s of 2048, 5.4 s
 *  of 4096 (fewer tiles below the diagonal skipped, larger products read back). */
export const KNN_BLOCK_CELLS = 1 << 20;

/** Where knn's time went (added to when passed), wall and process CPU time: the similarity GEMM (tf.matMul and
 *  its read-back) and the JavaScript top-k selection. */
export interface KnnTiming {
  gemmMs: number;
  selectMs: number;
  gemmCpuMs: number;
  selectCpuMs: number;
}
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Row r's k best candidates as a heap whose root is the worst kept one (lowest similarity; among equal
 *  similarities the highest index, so ties keep the lower index, as a stable sort would). */
function heapPush(hs: Float32Array, hi: Int32Array, base: number, size: number, v: number, b: number): void {
  let c = size;
  while (c > 0) {
    const p = (c - 1) >> 1;
    const ps = hs[base + p]!;
    if (ps < v || (ps === v && hi[base + p]! > b)) break;
    hs[base + c] = ps;
    hi[base + c] = hi[base + p]!;
    c = p;
  }
  hs[base + c] = v;
  hi[base + c] = b;
}
function heapReplaceRoot(hs: Float32Array, hi: Int32Array, base: number, size: number, v: number, b: number): void {
  let c = 0;
  for (;;) {
    let m = 2 * c + 1;
    if (m >= size) break;
    const r = m + 1;
    if (r < size) {
      const ms = hs[base + m]!,
        rs = hs[base + r]!;
      if (rs < ms || (rs === ms && hi[base + r]! > hi[base + m]!)) m = r;
    }
    const cs = hs[base + m]!;
    if (v < cs || (v === cs && b > hi[base + m]!)) break;
    hs[base + c] = cs;
    hi[base + c] = hi[base + m]!;
    c = m;
  }
  hs[base + c] = v;
  hi[base + c] = b;
}

/** Every query row's k best candidates (heaps of heapPush) and its admission threshold: the k-th best once the
 *  heap is full, so a candidate costs one compare unless it enters. */
class KBest {
  readonly hs: Float32Array;
  readonly hi: Int32Array;
  readonly size: Int32Array;
  readonly thr: Float32Array;
  constructor(
    n: number,
    readonly k: number,
  ) {
    this.hs = new Float32Array(n * k);
    this.hi = new Int32Array(n * k);
    this.size = new Int32Array(n);
    this.thr = new Float32Array(n).fill(-Infinity);
  }

  admit(r: number, v: number, b: number): void {
    const k = this.k,
      base = r * k,
      n = this.size[r]!;
    if (n < k) {
      heapPush(this.hs, this.hi, base, n, v, b);
      this.size[r] = n + 1;
      if (n + 1 === k) this.thr[r] = this.hs[base]!;
    } else {
      heapReplaceRoot(this.hs, this.hi, base, k, v, b);
      this.thr[r] = this.hs[base]!;
    }
  }

  /** Tile s (m x t: query rows i0.., bank rows j0..) offered to its query rows; bank row `self0 + r` is query r
   *  itself (self0 < 0: none). */
  scanRows(s: Float32Array, m: number, t: number, i0: number, j0: number, self0: number): void {
    const thr = this.thr;
    for (let i = 0; i < m; i++) {
      const r = i0 + i,
        self = self0 >= 0 ? self0 + r - j0 : -1,
        o = i * t;
      let th = thr[r]!;
      for (let c = 0; c < t; c++) {
        const v = s[o + c]!;
        if (v > th && c !== self) {
          this.admit(r, v, j0 + c);
          th = thr[r]!;
        }
      }
    }
  }

  /** A tile above the diagonal of the bank against itself: offered to its rows i0.. and, as its transpose (the
   *  tile below the diagonal, never computed), to rows j0.. */
  scanBoth(s: Float32Array, m: number, t: number, i0: number, j0: number): void {
    const thr = this.thr;
    for (let i = 0; i < m; i++) {
      const r = i0 + i,
        o = i * t;
      let th = thr[r]!;
      for (let c = 0; c < t; c++) {
        const v = s[o + c]!;
        if (v > th) {
          this.admit(r, v, j0 + c);
          th = thr[r]!;
        }
        if (v > thr[j0 + c]!) this.admit(j0 + c, v, r);
      }
    }
  }

  /** Every row's list, best first (ties: lower index first), into out / sim at row stride `stride`: the heaps
   *  emptied worst first (a heap sort, no per-row allocation). */
  write(out: Int32Array, sim: Float32Array, stride: number): void {
    const { hs, hi, k } = this;
    for (let r = 0; r < this.size.length; r++) {
      const base = r * k;
      for (let m = this.size[r]!; m > 0; m--) {
        out[r * stride + m - 1] = hi[base]!;
        sim[r * stride + m - 1] = hs[base]!;
        heapReplaceRoot(hs, hi, base, m - 1, hs[base + m - 1]!, hi[base + m - 1]!);
      }
      this.size[r] = 0;
    }
  }
}

/**
 * k nearest bank rows (cosine; rows are unit vectors) of each query row, nearest first (ties: lower bank index
 * first), skipping the query itself when selfOffset >= 0 (query i is bank row selfOffset + i); rows with fewer
 * than k candidates end in index -1. Exact: every similarity is computed (tf.matMul), in tiles of at most
 * blockCells, so memory is the inputs, the k-best lists and one tile, never queries x bank.
 * Why it is fast: the bank is transposed once per tile (tf.matMul with transposeB is slower on wasm); each
 * row keeps its k best in a heap, and a candidate costs one compare against the row's k-th best unless it
 * enters; when the queries are the bank itself (the final pass) only the tiles on and above the diagonal are
 * computed and each similarity serves both rows. Candidates reach every row in ascending bank index, so a
 * strict compare keeps the lower index on ties.
 * Reads each tile with dataSync (wasm, cpu, tensorflow); knnAsync is the same pass for webgpu.
 */
export function knn(...a: KnnArgs): KnnResult {
  return readEachSync(knnPass(false, ...a));
}

/** knn reading each tile with `await data()` (runs on webgpu too), the next tile's product already queued while
 *  one is read and scanned; the same tiles, ops and selection as knn. */
export function knnAsync(...a: KnnArgs): Promise<KnnResult> {
  return readEach(knnPass(true, ...a));
}

export interface KnnResult {
  idx: Int32Array;
  sim: Float32Array;
}
/** knn's arguments: query, nq, bank, nb, d, k, selfOffset = -1, blockCells = KNN_BLOCK_CELLS, timing? */
type KnnArgs = Parameters<typeof knnPass> extends [boolean, ...infer A] ? A : never;

/** knn's tiles as a read pass: yields each similarity tile (m x t) and resumes with its values. ahead: the next
 *  tile's product is issued before this one is yielded (two tiles held at once), so an asynchronous backend
 *  computes it while this one is read back and scanned. Other passes run it inside theirs (`yield*`: judge). */
export function* knnPass(
  ahead: boolean,
  query: Float32Array,
  nq: number,
  bank: Float32Array,
  nb: number,
  d: number,
  k: number,
  selfOffset = -1,
  blockCells = KNN_BLOCK_CELLS,
  timing?: KnnTiming,
): ReadPass<KnnResult> {
  const kk = Math.min(k, nb - (selfOffset >= 0 ? 1 : 0));
  const out = new Int32Array(nq * k).fill(-1),
    sim = new Float32Array(nq * k);
  if (kk <= 0 || nq <= 0) return { idx: out, sim };
  const sym = query === bank && nq === nb && selfOffset === 0;
  const side = Math.max(1, Math.floor(Math.sqrt(blockCells)));
  const qb = Math.min(nq, side),
    tb = Math.min(nb, side);
  const best = new KBest(nq, kk);
  const tm: KnnTiming = { gemmMs: 0, selectMs: 0, gemmCpuMs: 0, selectCpuMs: 0 };
  // the tiles in order: bank tiles j0, within each the query tiles i0 (only up to the diagonal when symmetric)
  const tiles: [i0: number, j0: number][] = [];
  for (let j0 = 0; j0 < nb; j0 += tb) for (let i0 = 0; i0 < (sym ? j0 + 1 : nq); i0 += qb) tiles.push([i0, j0]);
  let B: tf.Tensor2D | null = null, // the current bank tile, transposed (d x t)
    bj = -1;
  const issue = (n: number): tf.Tensor => {
    const [i0, j0] = tiles[n]!;
    if (j0 !== bj) {
      // the previous bank tile's last product is issued already (a backend keeps what a queued op reads)
      B?.dispose();
      B = null;
      const t = Math.min(tb, nb - j0),
        bt = new Float32Array(d * t);
      for (let c = 0; c < t; c++) for (let u = 0; u < d; u++) bt[u * t + c] = bank[(j0 + c) * d + u]!;
      B = tf.tensor2d(bt, [d, t]);
      bj = j0;
    }
    const m = Math.min(qb, nq - i0);
    return tf.tidy(() => tf.matMul(tf.tensor2d(query.subarray(i0 * d, (i0 + m) * d), [m, d]), B!));
  };
  let next: tf.Tensor | null = null;
  try {
    for (let n = 0; n < tiles.length; n++) {
      const [i0, j0] = tiles[n]!;
      const m = Math.min(qb, nq - i0),
        t = Math.min(tb, nb - j0);
      const t0 = performance.now(),
        c0 = timing ? cpuMs() : 0;
      const S = next ?? issue(n);
      next = null;
      try {
        if (ahead && n + 1 < tiles.length) next = issue(n + 1);
      } catch (e) {
        S.dispose();
        throw e;
      }
      const s = yield S; // read back and disposed by the driver
      const t1 = performance.now(),
        c1 = timing ? cpuMs() : 0;
      if (sym && i0 !== j0) best.scanBoth(s, m, t, i0, j0);
      else best.scanRows(s, m, t, i0, j0, selfOffset);
      tm.gemmMs += t1 - t0;
      tm.selectMs += performance.now() - t1;
      if (timing) {
        tm.gemmCpuMs += c1 - c0;
        tm.selectCpuMs += cpuMs() - c1;
      }
    }
  } finally {
    next?.dispose();
    (B as tf.Tensor2D | null)?.dispose();
  }
  best.write(out, sim, k);
  if (timing) for (const key of Object.keys(tm) as (keyof KnnTiming)[]) timing[key] += tm[key];
  return { idx: out, sim };
}

/** n x K: weighted share of each given label among each row's neighbours (rows sum to 1; all 0 without
 *  neighbours); weights exp(sim / temp) (temp = Infinity: plain counts). */
export function neighbourShares(
  nbr: { idx: Int32Array; sim: Float32Array },
  k: number,
  bankLabels: ArrayLike<number>,
  K: number,
  temp = KNN_TEMP,
): Float32Array {
  const n = nbr.idx.length / k,
    out = new Float32Array(n * K),
    h = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    h.fill(0);
    let z = 0;
    for (let j = 0; j < k; j++) {
      const b = nbr.idx[i * k + j];
      if (b < 0) continue;
      const w = Number.isFinite(temp) ? Math.exp((nbr.sim[i * k + j] - 1) / temp) : 1;
      h[bankLabels[b]] += w;
      z += w;
    }
    if (z) for (let c = 0; c < K; c++) out[i * K + c] = h[c] / z;
  }
  return out;
}

/** 1 - (largest share of one label) per row of neighbourShares, 0..1 (0 for a row without neighbours). */
export function impurityOfShares(shares: Float32Array, K: number): Float32Array {
  const n = shares.length / K,
    out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let mx = 0,
      z = 0;
    for (let c = 0; c < K; c++) {
      const v = shares[i * K + c];
      z += v;
      if (v > mx) mx = v;
    }
    out[i] = z ? 1 - mx : 0;
  }
  return out;
}

/** 1 - (largest weighted share of one label among each row's neighbours), 0..1; weights exp(sim / temp)
 *  (temp = Infinity: plain counts). */
export function labelImpurity(
  nbr: { idx: Int32Array; sim: Float32Array },
  k: number,
  bankLabels: ArrayLike<number>,
  K: number,
  temp = KNN_TEMP,
): Float32Array {
  return impurityOfShares(neighbourShares(nbr, k, bankLabels, K, temp), K);
}

/** (1 - max_k cos(v, c_k)) / 2, 0..1 */
export function protoDistance(emb: Float32Array, protos: Float32Array, n: number, K: number, d: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let maxCos = -1;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += emb[i * d + t] * protos[k * d + t];
      if (s > maxCos) maxCos = s;
    }
    out[i] = Math.min(1, Math.max(0, (1 - maxCos) / 2));
  }
  return out;
}

export interface OodBank {
  emb: Float32Array;
  labels: Int32Array;
  n: number;
}

export interface OodScoreInput {
  emb: Float32Array; //   n x d embeddings of the rows to score
  protos: Float32Array; // K x d prototypes
  q: Float32Array; //     n x K soft labels
  n: number;
  K: number;
  d: number;
  /** training embeddings with their given labels (the neighbour scores need it) */
  bank?: OodBank;
  /** as in knn(): row i of emb is bank row i + selfOffset (skipped as its own neighbour); -1 when not in the bank */
  selfOffset?: number;
}

/** 'knn-label' as a read pass (the neighbour search's tiles): 1 - the largest weighted share of one given label
 *  among the knnK nearest bank rows; prototype distance when there is no bank. ahead: as knnPass. */
function* knnLabelPass(ahead: boolean, x: OodScoreInput): ReadPass<Float32Array> {
  if (!x.bank || x.bank.n < 2) return protoDistance(x.emb, x.protos, x.n, x.K, x.d);
  const k = knnK(x.bank.n, x.K);
  const nb = yield* knnPass(ahead, x.emb, x.n, x.bank.emb, x.bank.n, x.d, k, x.selfOffset ?? -1);
  return labelImpurity(nb, k, x.bank.labels, x.K);
}

/**
 * The ood_score formulas by name. 'knn-label' (default): 1 - the largest similarity-weighted share of one given
 * label among the nearest training embeddings (prototype distance when there is no bank); 'proto': prototype
 * distance only; 'q': 1 - max q.
 */
const OOD_SCORES = {
  'knn-label': (x: OodScoreInput): Float32Array => readEachSync(knnLabelPass(false, x)),
  proto: (x: OodScoreInput): Float32Array => protoDistance(x.emb, x.protos, x.n, x.K, x.d),
  q: (x: OodScoreInput): Float32Array => {
    const out = new Float32Array(x.n);
    for (let i = 0; i < x.n; i++) {
      let m = 0;
      for (let k = 0; k < x.K; k++) m = Math.max(m, x.q[i * x.K + k]);
      out[i] = 1 - m;
    }
    return out;
  },
} satisfies Record<string, (x: OodScoreInput) => Float32Array>;

export type OodScoreName = keyof typeof OOD_SCORES;
export const OOD_SCORE_NAMES = Object.keys(OOD_SCORES) as OodScoreName[];

/** The formula of that name; an unknown name (a typo, a model file from elsewhere) throws rather than fall back. */
export function getOodScore(name: string): (x: OodScoreInput) => Float32Array {
  if (!Object.hasOwn(OOD_SCORES, name))
    throw new Error(`unknown ood_score formula "${name}": expected one of ${OOD_SCORE_NAMES.join(', ')}`);
  return OOD_SCORES[name as OodScoreName];
}

export function oodScores(name: string, x: OodScoreInput): Float32Array {
  return getOodScore(name)(x);
}

/** oodScores with the neighbour search read by `await data()` (knnAsync: webgpu too); the other formulas
 *  read no tensor. The same scores as oodScores. */
export async function oodScoresAsync(name: string, x: OodScoreInput): Promise<Float32Array> {
  const f = getOodScore(name);
  return f === OOD_SCORES['knn-label'] ? readEach(knnLabelPass(true, x)) : f(x);
}
