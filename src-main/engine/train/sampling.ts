// Epoch orders: a plain shuffle, or class-balanced sampling (seed 002's answer to class-imbalanced web data):
// image i is drawn with weight N / N_class(i), with replacement, N draws per epoch, so every class that has
// images is drawn equally often in expectation. Classes are counted by the label the trainer trains with
// (given or human-fixed), over the rows it trains on.
import type { Sampling } from '../../../src-shared/contract';
import type { Rng } from '../../../src-shared/rng';

export type { Sampling };

/** Images per class among `rows` (label of row r is labels[r]). */
export function classCounts(rows: Int32Array, labels: Int32Array, K: number): number[] {
  const c = new Array<number>(K).fill(0);
  for (const r of rows) c[labels[r]]++;
  return c;
}

/** Draw weight of each row: N / N_class (0 for none). */
export function balancedWeights(rows: Int32Array, labels: Int32Array, K: number): Float64Array {
  const c = classCounts(rows, labels, K),
    n = rows.length;
  return Float64Array.from(rows, (r) => n / c[labels[r]]);
}

/**
 * `count` rows drawn with replacement with probability proportional to `weights` (inverse CDF by binary search:
 * O(count log N), deterministic for a given Rng state).
 */
export function weightedDraw(rows: Int32Array, weights: Float64Array, count: number, rng: Rng): Int32Array {
  const cdf = new Float64Array(rows.length);
  let s = 0;
  for (let i = 0; i < rows.length; i++) {
    s += weights[i];
    cdf[i] = s;
  }
  if (!(s > 0)) throw new Error('weightedDraw: all weights are zero');
  const out = new Int32Array(count);
  for (let t = 0; t < count; t++) {
    const u = rng.next() * s;
    let lo = 0,
      hi = rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    out[t] = rows[lo];
  }
  return out;
}

/** One epoch's order of training rows. */
export function epochOrder(mode: Sampling, rows: Int32Array, labels: Int32Array, K: number, rng: Rng): Int32Array {
  if (mode === 'balanced') return weightedDraw(rows, balancedWeights(rows, labels, K), rows.length, rng);
  const p = rng.permutation(rows.length);
  return Int32Array.from(p, (j) => rows[j]);
}

/** What the run summary shows: images per class as found, and the expected draws per class per epoch. */
export function samplingSummary(mode: Sampling, rows: Int32Array, labels: Int32Array, classes: string[]) {
  const before = classCounts(rows, labels, classes.length);
  const present = before.filter((c) => c > 0).length;
  const after = mode === 'balanced' ? before.map((c) => (c > 0 ? rows.length / present : 0)) : before.slice();
  return { mode, classes, before, expectedPerEpoch: after.map((v) => Math.round(v * 10) / 10) };
}
