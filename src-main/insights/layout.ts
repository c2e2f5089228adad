// 2-D layouts of a run's embeddings: PCA (instant first view) and UMAP (umap-js). UMAP is fitted
// on a subsample in PCA-32 space and every other point (and each prototype) is placed at the
// distance-weighted mean of its nearest fitted neighbours: at 100k points this is seconds instead
// of umap-js's minutes, and the picture is the same at the scale of a screen.
// Long loops yield to the event loop, so the process serving the UI stays responsive.
import { UMAP } from 'umap-js';
import { fitPca, projectPca, sampleRows } from './pca';
import { Rng } from '../../src-shared/rng';

export interface Layout2D {
  /** n x 2 interleaved (x, y). */
  points: Float32Array;
  /** k x 2 interleaved, same transform as the points. */
  prototypes: Float32Array;
}

export type LayoutPhase = 'pca' | 'fit' | 'place';
export type LayoutProgress = (phase: LayoutPhase, done: number, total: number) => void;

export function pcaLayout(emb: Float32Array, n: number, d: number, protos: Float32Array, k: number): Layout2D {
  const basis = fitPca(emb, n, d, 2);
  const pad = (a: Float32Array, rows: number): Float32Array => {
    if (basis.k === 2) return a;
    const out = new Float32Array(rows * 2); // d = 1: y stays 0
    for (let i = 0; i < rows; i++) out[i * 2] = a[i * basis.k];
    return out;
  };
  return { points: pad(projectPca(basis, emb, n), n), prototypes: pad(projectPca(basis, protos, k), k) };
}

/** Seeded PRNG (mulberry32): the same run gives the same map every time. */
export function mulberry32(seed: number): () => number {
  const r = new Rng(seed); // the engine's mulberry32: one implementation for every seeded stream
  return () => r.next();
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface UmapOptions {
  fitSize?: number; //    points UMAP is fitted on (default 2000)
  dims?: number; //       PCA dimensions before UMAP (default 32)
  neighbours?: number; // UMAP nNeighbors (default 15)
  epochs?: number; //     UMAP epochs (default 200)
  placeK?: number; //     neighbours used to place the other points (default 5)
  seed?: number;
  onProgress?: LayoutProgress;
  /** Return true to abandon (a newer request superseded this one). */
  cancelled?: () => boolean;
}

/**
 * For every row of `query` (q x dim), its `kk` nearest rows of `ref` (m x dim) by squared
 * Euclidean distance; writes indices and distances (q x kk, nearest first).
 */
export function nearestRows(
  query: Float32Array,
  q: number,
  ref: Float32Array,
  m: number,
  dim: number,
  kk: number,
  outIdx: Int32Array,
  outDist: Float32Array,
  from = 0,
  to = q,
): void {
  const refNorm = new Float32Array(m);
  for (let r = 0; r < m; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += ref[r * dim + j] ** 2;
    refNorm[r] = s;
  }
  for (let i = from; i < to; i++) {
    const o = i * dim;
    let qn = 0;
    for (let j = 0; j < dim; j++) qn += query[o + j] ** 2;
    const bi = outIdx.subarray(i * kk, i * kk + kk).fill(-1);
    const bd = outDist.subarray(i * kk, i * kk + kk).fill(Infinity);
    for (let r = 0; r < m; r++) {
      let dot = 0;
      const ro = r * dim;
      for (let j = 0; j < dim; j++) dot += query[o + j] * ref[ro + j];
      const dist = qn + refNorm[r] - 2 * dot;
      if (dist >= bd[kk - 1]) continue;
      let p = kk - 1;
      while (p > 0 && bd[p - 1] > dist) {
        bd[p] = bd[p - 1];
        bi[p] = bi[p - 1];
        p--;
      }
      bd[p] = dist;
      bi[p] = r;
    }
  }
}

/**
 * Approximate nearest fitted rows for many queries: the m reference rows are grouped under
 * ~sqrt(m) pivots (each row joins its nearest pivot) and a query scans only the groups of its
 * `probe` nearest pivots: ~10x fewer distances than nearestRows at m = 2000, and for placing a
 * point on the map a near-nearest neighbour is as good as the nearest.
 */
export class PivotIndex {
  private pivots: Float32Array;
  private p: number;
  private start: Int32Array; // CSR: members of pivot g are order[start[g] .. start[g + 1])
  private order: Int32Array;

  constructor(
    private ref: Float32Array,
    m: number,
    private dim: number,
    seed = 1,
  ) {
    this.p = Math.max(1, Math.round(Math.sqrt(m)));
    const pick = sampleRows(m, this.p, seed);
    this.pivots = new Float32Array(this.p * dim);
    pick.forEach((r, g) => this.pivots.set(ref.subarray(r * dim, r * dim + dim), g * dim));
    const owner = new Int32Array(m),
      od = new Float32Array(m);
    nearestRows(ref, m, this.pivots, this.p, dim, 1, owner, od);
    this.start = new Int32Array(this.p + 1);
    for (let r = 0; r < m; r++) this.start[owner[r] + 1]++;
    for (let g = 0; g < this.p; g++) this.start[g + 1] += this.start[g];
    const fill = this.start.slice(0, this.p);
    this.order = new Int32Array(m);
    for (let r = 0; r < m; r++) this.order[fill[owner[r]]++] = r;
  }

  /** Same contract as nearestRows (rows from..to of `query`). */
  search(
    query: Float32Array,
    q: number,
    kk: number,
    outIdx: Int32Array,
    outDist: Float32Array,
    from = 0,
    to = q,
    probe = 3,
  ): void {
    const { dim, ref, order, start } = this;
    const pr = Math.min(probe, this.p);
    const pIdx = new Int32Array(q * pr),
      pDist = new Float32Array(q * pr);
    nearestRows(query, q, this.pivots, this.p, dim, pr, pIdx, pDist, from, to);
    for (let i = from; i < to; i++) {
      const o = i * dim;
      const bi = outIdx.subarray(i * kk, i * kk + kk).fill(-1);
      const bd = outDist.subarray(i * kk, i * kk + kk).fill(Infinity);
      for (let t = 0; t < pr; t++) {
        const g = pIdx[i * pr + t];
        if (g < 0) continue;
        for (let s = start[g]; s < start[g + 1]; s++) {
          const r = order[s],
            ro = r * dim;
          let dist = 0;
          for (let j = 0; j < dim; j++) {
            const x = query[o + j] - ref[ro + j];
            dist += x * x;
          }
          if (dist >= bd[kk - 1]) continue;
          let p = kk - 1;
          while (p > 0 && bd[p - 1] > dist) {
            bd[p] = bd[p - 1];
            bi[p] = bi[p - 1];
            p--;
          }
          bd[p] = dist;
          bi[p] = r;
        }
      }
    }
  }
}

/** Weighted mean of neighbours' 2-D positions (weights 1 / distance; an exact match wins outright). */
function placeFrom(
  idx: Int32Array,
  dist: Float32Array,
  kk: number,
  fitted: Float32Array,
  out: Float32Array,
  i: number,
  o: number,
): void {
  let wx = 0,
    wy = 0,
    ws = 0;
  for (let t = 0; t < kk; t++) {
    const r = idx[i * kk + t];
    if (r < 0) continue;
    const w = 1 / (Math.sqrt(Math.max(0, dist[i * kk + t])) + 1e-6);
    wx += w * fitted[r * 2];
    wy += w * fitted[r * 2 + 1];
    ws += w;
  }
  out[o * 2] = ws ? wx / ws : 0;
  out[o * 2 + 1] = ws ? wy / ws : 0;
}

export async function umapLayout(
  emb: Float32Array,
  n: number,
  d: number,
  protos: Float32Array,
  k: number,
  o: UmapOptions = {},
): Promise<Layout2D | null> {
  const progress = o.onProgress ?? (() => undefined);
  const cancelled = o.cancelled ?? (() => false);
  progress('pca', 0, 1);
  const basis = fitPca(emb, n, d, Math.min(o.dims ?? 32, d));
  const dim = basis.k;
  const red = projectPca(basis, emb, n);
  const redP = projectPca(basis, protos, k);
  progress('pca', 1, 1);
  await tick();

  const fitRows = sampleRows(n, o.fitSize ?? 2000, o.seed ?? 1);
  const m = fitRows.length;
  const fitSet = new Uint8Array(n);
  const X: number[][] = Array.from(fitRows, (r) => {
    fitSet[r] = 1;
    return Array.from(red.subarray(r * dim, r * dim + dim));
  });
  const points = new Float32Array(n * 2);
  const fitted = new Float32Array(m * 2);
  if (m < 4) {
    // Too few points for a neighbour graph: PCA is the honest picture.
    for (let t = 0; t < m; t++) {
      fitted[t * 2] = X[t][0] ?? 0;
      fitted[t * 2 + 1] = X[t][1] ?? 0;
    }
  } else {
    const nn = Math.min(o.neighbours ?? 15, m - 1);
    const umap = new UMAP({
      nComponents: 2,
      nNeighbors: nn,
      nEpochs: o.epochs ?? 200,
      minDist: 0.1,
      random: mulberry32(o.seed ?? 1),
    });
    progress('fit', 0, o.epochs ?? 200);
    // Exact neighbour graph of the fitted points, in chunks that yield: umap-js's own NN-descent
    // would block the event loop for seconds in one piece. Each point is its own first neighbour.
    const ref0 = new Float32Array(m * dim);
    for (let t = 0; t < m; t++) ref0.set(red.subarray(fitRows[t] * dim, fitRows[t] * dim + dim), t * dim);
    const gi = new Int32Array(m * nn),
      gd = new Float32Array(m * nn);
    for (let s = 0; s < m; s += 200) {
      nearestRows(ref0, m, ref0, m, dim, nn, gi, gd, s, Math.min(m, s + 200));
      await tick();
      if (cancelled()) return null;
    }
    const knnI: number[][] = [],
      knnD: number[][] = [];
    for (let t = 0; t < m; t++) {
      knnI.push(Array.from(gi.subarray(t * nn, t * nn + nn)));
      knnD.push(Array.from(gd.subarray(t * nn, t * nn + nn), (v) => Math.sqrt(Math.max(0, v))));
    }
    umap.setPrecomputedKNN(knnI, knnD);
    // The search graph only serves umap.transform(), which we never call (see placement below);
    // building it is umap-js's slowest sparse-matrix step.
    (umap as unknown as { makeSearchGraph: () => null }).makeSearchGraph = () => null;
    const epochs = umap.initializeFit(X);
    let last = Date.now();
    for (let e = 0; e < epochs; e++) {
      umap.step();
      if (Date.now() - last > 40) {
        progress('fit', e + 1, epochs);
        await tick();
        if (cancelled()) return null;
        last = Date.now();
      }
    }
    const Y = umap.getEmbedding();
    for (let t = 0; t < m; t++) {
      fitted[t * 2] = Y[t][0];
      fitted[t * 2 + 1] = Y[t][1];
    }
    progress('fit', epochs, epochs);
  }
  for (let t = 0; t < m; t++) {
    points[fitRows[t] * 2] = fitted[t * 2];
    points[fitRows[t] * 2 + 1] = fitted[t * 2 + 1];
  }

  // The rest: gathered into one block so the neighbour search is a plain loop.
  const rest = new Int32Array(n - m);
  for (let i = 0, w = 0; i < n; i++) if (!fitSet[i]) rest[w++] = i;
  const restData = new Float32Array(rest.length * dim);
  for (let t = 0; t < rest.length; t++) restData.set(red.subarray(rest[t] * dim, rest[t] * dim + dim), t * dim);
  const ref = new Float32Array(m * dim);
  for (let t = 0; t < m; t++) ref.set(red.subarray(fitRows[t] * dim, fitRows[t] * dim + dim), t * dim);
  const kk = Math.min(o.placeK ?? 5, m);
  const idx = new Int32Array(rest.length * kk);
  const dist = new Float32Array(rest.length * kk);
  const placed = new Float32Array(rest.length * 2);
  const index = new PivotIndex(ref, m, dim, o.seed ?? 1);
  const CHUNK = 4000;
  for (let s = 0; s < rest.length; s += CHUNK) {
    const e = Math.min(rest.length, s + CHUNK);
    index.search(restData, rest.length, kk, idx, dist, s, e);
    for (let t = s; t < e; t++) placeFrom(idx, dist, kk, fitted, placed, t, t);
    for (let t = s; t < e; t++) {
      points[rest[t] * 2] = placed[t * 2];
      points[rest[t] * 2 + 1] = placed[t * 2 + 1];
    }
    progress('place', e, rest.length);
    await tick();
    if (cancelled()) return null;
  }
  const prototypes = new Float32Array(k * 2);
  if (k && m) {
    const pi = new Int32Array(k * kk);
    const pd = new Float32Array(k * kk);
    nearestRows(redP, k, ref, m, dim, kk, pi, pd);
    for (let t = 0; t < k; t++) placeFrom(pi, pd, kk, fitted, prototypes, t, t);
  }
  return { points, prototypes };
}
