// Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset
// Labels", JAIR 2021), written from the paper, and a kNN-distance OOD score in the manner of cleanlab's
// OutOfDistribution (mean cosine distance to the k nearest training features). The peer baseline of
// `npm run bench:suggestions`: pure functions over row-major Float32Array matrices, no tensors.

/** Row-major n x K matrix of out-of-sample predicted probabilities (each row sums to 1). */
export interface ProbMatrix {
  p: Float32Array | Float64Array;
  n: number;
  K: number;
}

function check(pm: ProbMatrix, labels: ArrayLike<number>): void {
  if (pm.p.length !== pm.n * pm.K)
    throw new Error(`probabilities: expected ${pm.n} x ${pm.K} = ${pm.n * pm.K} values, got ${pm.p.length}`);
  if (labels.length !== pm.n) throw new Error(`labels: expected ${pm.n}, got ${labels.length}`);
  for (let i = 0; i < pm.n; i++)
    if (!(labels[i] >= 0 && labels[i] < pm.K))
      throw new Error(`label ${labels[i]} of row ${i} is outside 0..${pm.K - 1}`);
}

/**
 * Per-class thresholds t_j = mean self-confidence p_j(x) over the examples whose given label is j (paper eq. 2).
 * A class with no examples gets t_j = 1, so almost nothing is counted into it.
 */
export function perClassThresholds(pm: ProbMatrix, labels: ArrayLike<number>): Float64Array {
  check(pm, labels);
  const { p, n, K } = pm;
  const sum = new Float64Array(K),
    cnt = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    sum[y] += p[i * K + y];
    cnt[y]++;
  }
  return Float64Array.from(sum, (s, j) => (cnt[j] ? s / cnt[j] : 1));
}

/**
 * The confident joint C[i][j] (given label i, latent true label j), paper eq. 1: an example with given label i is
 * counted in column j = argmax over the classes l with p_l(x) >= t_l of p_l(x); an example with no class at or
 * above its threshold is not counted. Also returns, per example, the column it was counted in (-1 = none).
 */
export function confidentJoint(
  pm: ProbMatrix,
  labels: ArrayLike<number>,
  t: ArrayLike<number>,
): { C: Float64Array; column: Int32Array } {
  check(pm, labels);
  const { p, n, K } = pm;
  const C = new Float64Array(K * K),
    column = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    let best = -1,
      bp = -Infinity;
    for (let l = 0; l < K; l++) {
      const v = p[i * K + l];
      if (v >= t[l] && v > bp) {
        bp = v;
        best = l;
      }
    }
    column[i] = best;
    if (best >= 0) C[labels[i] * K + best]++;
  }
  return { C, column };
}

/**
 * Calibrates the confident joint so that each row sums to the number of examples with that given label
 * (paper eq. 3 before the final normalisation to a joint distribution): C~[i][j] = C[i][j] / sum_j C[i][j] * n_i.
 * A row with no confident counts stays zero (no evidence about that class's noise).
 */
export function calibrateJoint(C: ArrayLike<number>, K: number, labels: ArrayLike<number>): Float64Array {
  const nI = new Float64Array(K);
  for (let i = 0; i < labels.length; i++) nI[labels[i]]++;
  const out = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    let row = 0;
    for (let j = 0; j < K; j++) row += C[i * K + j];
    if (row > 0) for (let j = 0; j < K; j++) out[i * K + j] = (C[i * K + j] / row) * nI[i];
  }
  return out;
}

/**
 * Prune by noise rate (paper §3.2, "PBNR"): for each off-diagonal cell (i, j) of the calibrated joint, flag the
 * round(C~[i][j]) examples with given label i that have the largest margin p_j(x) - p_i(x). The union over
 * cells is returned as a 0/1 mask. Ties in the margin are broken by row index (stable order).
 */
export function pruneByNoiseRate(pm: ProbMatrix, labels: ArrayLike<number>, calibrated: ArrayLike<number>): Uint8Array {
  check(pm, labels);
  const { p, n, K } = pm;
  const byLabel: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < n; i++) byLabel[labels[i]].push(i);
  const flagged = new Uint8Array(n);
  for (let i = 0; i < K; i++) {
    const rows = byLabel[i];
    for (let j = 0; j < K; j++) {
      if (i === j) continue;
      const m = Math.min(rows.length, Math.round(calibrated[i * K + j]));
      if (m <= 0) continue;
      const order = rows
        .map((r) => ({ r, margin: p[r * K + j] - p[r * K + i] }))
        .sort((a, b) => b.margin - a.margin || a.r - b.r);
      for (let q = 0; q < m; q++) flagged[order[q].r] = 1;
    }
  }
  return flagged;
}

export interface LabelIssues {
  /** 1 = flagged as a label issue by prune-by-noise-rate */
  flagged: Uint8Array;
  /** suggested label per example: argmax of its out-of-sample probabilities */
  suggestion: Int32Array;
  /** probability of the suggested label */
  confidence: Float32Array;
  thresholds: Float64Array;
  joint: Float64Array;
  calibrated: Float64Array;
}

/** The whole confident-learning pass: thresholds, confident joint, calibration, prune by noise rate, argmax relabel. */
export function findLabelIssues(pm: ProbMatrix, labels: ArrayLike<number>): LabelIssues {
  const thresholds = perClassThresholds(pm, labels);
  const { C } = confidentJoint(pm, labels, thresholds);
  const calibrated = calibrateJoint(C, pm.K, labels);
  const flagged = pruneByNoiseRate(pm, labels, calibrated);
  const { p, n, K } = pm;
  const suggestion = new Int32Array(n),
    confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let l = 1; l < K; l++) if (p[i * K + l] > p[i * K + best]) best = l;
    suggestion[i] = best;
    confidence[i] = p[i * K + best];
  }
  return { flagged, suggestion, confidence, thresholds, joint: C, calibrated };
}

/**
 * kNN-distance OOD score: for each row, the mean cosine distance (1 - cos) to its k nearest OTHER rows of the
 * same feature matrix (the training set scored against itself, leaving itself out). Higher = more atypical.
 * Features are L2-normalised here; an all-zero row gets distance 1 to everything.
 */
export function knnDistanceScores(feat: Float32Array, n: number, dim: number, k: number): Float32Array {
  if (feat.length !== n * dim) throw new Error(`features: expected ${n} x ${dim} values, got ${feat.length}`);
  const kk = Math.max(1, Math.min(k, n - 1));
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < dim; t++) s += feat[i * dim + t] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let t = 0; t < dim; t++) x[i * dim + t] = feat[i * dim + t] * inv;
  }
  const out = new Float32Array(n);
  const top = new Float64Array(kk); // the kk largest cosines so far, ascending
  for (let i = 0; i < n; i++) {
    top.fill(-Infinity);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let c = 0;
      for (let t = 0; t < dim; t++) c += x[i * dim + t] * x[j * dim + t];
      if (c <= top[0]) continue;
      // insert into the ascending list, dropping the smallest
      let q = 0;
      while (q + 1 < kk && top[q + 1] < c) {
        top[q] = top[q + 1];
        q++;
      }
      top[q] = c;
    }
    let d = 0;
    for (let q = 0; q < kk; q++) d += 1 - top[q];
    out[i] = d / kk;
  }
  return out;
}

/** Stratified K-fold assignment: examples of each given label dealt round-robin after a seeded shuffle. */
export function stratifiedFolds(labels: ArrayLike<number>, folds: number, seed: number): Int32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const idx = Array.from({ length: labels.length }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  idx.sort((a, b) => labels[a] - labels[b]); // stable: shuffled order kept within a class
  const fold = new Int32Array(labels.length);
  // dealing continues across classes, so fold sizes differ by at most one overall and per class
  idx.forEach((i, c) => {
    fold[i] = c % folds;
  });
  return fold;
}
