// PCA projection of row-major Float32 embeddings with ml-pca. The basis is fitted on an evenly
// spaced subsample (the covariance of 128-d embeddings settles after a few thousand rows), then
// every row is projected with one tight loop instead of building a 100k-row ml-matrix.
import { PCA } from 'ml-pca';
import { Rng } from '../../src-shared/rng';

export interface PcaBasis {
  d: number;
  k: number;
  mean: Float64Array; //  d
  /** k x d, row c = component c. */
  axes: Float64Array;
  explained: number[]; // share of variance per kept component
}

/**
 * At most `max` distinct row indices of 0..n-1, sorted, drawn with a fixed seed: random rather than
 * evenly spaced, so data with a period (class after class) is not aliased into one class.
 */
export function sampleRows(n: number, max: number, seed = 1): Int32Array {
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => i);
  // Partial Fisher-Yates with the shared seeded stream.
  const rng = new Rng(seed);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < max; i++) {
    const j = i + Math.floor(rng.next() * (n - i));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx.slice(0, max).sort();
}

export function fitPca(data: Float32Array, n: number, d: number, k: number, maxFit = 4000): PcaBasis {
  if (n < 1 || data.length < n * d) throw new Error(`fitPca: ${data.length} values do not hold ${n} x ${d}`);
  const rows = sampleRows(n, maxFit);
  const m = rows.length;
  const kk = Math.min(k, d);
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += data[r * d + j] / m;
  const axes = new Float64Array(kk * d);
  if (m < 2) {
    // One row has no variance: the basis is then the first k unit vectors.
    for (let c = 0; c < kk; c++) axes[c * d + c] = 1;
    return { d, k: kk, mean, axes, explained: new Array(kk).fill(0) };
  }
  // The d x d covariance in one typed-array pass (ml-pca's own SVD of the m x d data is ~30x
  // slower at m = 5000, d = 128); ml-pca then does the eigen-decomposition.
  const cov = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (const r of rows) {
    for (let j = 0; j < d; j++) x[j] = data[r * d + j] - mean[j];
    for (let i = 0; i < d; i++) {
      const xi = x[i];
      if (xi === 0) continue;
      const o = i * d;
      for (let j = i; j < d; j++) cov[o + j] += xi * x[j];
    }
  }
  const C: number[][] = Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => (i <= j ? cov[i * d + j] : cov[j * d + i]) / (m - 1)),
  );
  const pca = new PCA(C, { isCovarianceMatrix: true });
  const U = pca.getEigenvectors(); // d x d, column c = component c, by decreasing variance
  for (let c = 0; c < kk; c++) for (let j = 0; j < d; j++) axes[c * d + j] = U.get(j, c);
  return { d, k: kk, mean, axes, explained: pca.getExplainedVariance().slice(0, kk) };
}

/** rows x d (row-major) -> rows x basis.k. */
export function projectPca(basis: PcaBasis, data: Float32Array, rows: number): Float32Array {
  const { d, k, mean, axes } = basis;
  const out = new Float32Array(rows * k);
  const centred = new Float64Array(d);
  for (let i = 0; i < rows; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) centred[j] = data[o + j] - mean[j];
    for (let c = 0; c < k; c++) {
      let s = 0;
      const a = c * d;
      for (let j = 0; j < d; j++) s += centred[j] * axes[a + j];
      out[i * k + c] = s;
    }
  }
  return out;
}
