// The online noise-cleaning rule of mopro.md §2 (also the offline rule of the final pass), as pure maths.
import type { SampleStatus } from '../../../src-shared/contract';

/** The samples.csv status, from the contract's one z.enum. */
export type Status = SampleStatus;

export function softmaxRows(logits: Float32Array, rows: number, K: number, temperature = 1): Float32Array {
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) mx = Math.max(mx, logits[r * K + k] / temperature);
    let s = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.exp(logits[r * K + k] / temperature - mx);
      out[r * K + k] = e;
      s += e;
    }
    for (let k = 0; k < K; k++) out[r * K + k] /= s;
  }
  return out;
}

export interface CleanResult {
  q: Float32Array; //        rows x K soft pseudo-labels
  label: Int32Array; //      label used for training (corrected or given)
  clean: boolean[]; //       false = treated as OOD (this iteration only)
  status: Status[];
}

/**
 * q = alpha p + (1 - alpha) s; keep = q[y] > 1/K; corr = max q > T (label := argmax q);
 * clean = keep || corr; status 'relabeled' when the corrected label differs from y.
 * fixed[i]: a human-confirmed label, never relabelled and always kept.
 */
export function cleanRule(
  p: Float32Array,
  s: Float32Array,
  given: ArrayLike<number>,
  K: number,
  alpha: number,
  T: number,
  fixed?: ArrayLike<boolean>,
): CleanResult {
  const B = given.length;
  const q = new Float32Array(B * K),
    label = new Int32Array(B),
    clean: boolean[] = [],
    status: Status[] = [];
  for (let i = 0; i < B; i++) {
    let am = 0,
      mx = -Infinity;
    for (let k = 0; k < K; k++) {
      const v = alpha * p[i * K + k] + (1 - alpha) * s[i * K + k];
      q[i * K + k] = v;
      if (v > mx) {
        mx = v;
        am = k;
      }
    }
    const y = given[i];
    if (fixed && fixed[i]) {
      label[i] = y;
      clean.push(true);
      status.push('clean');
      continue;
    }
    const keep = q[i * K + y] > 1 / K;
    const corr = mx > T;
    label[i] = corr ? am : y;
    clean.push(keep || corr);
    status.push(!(keep || corr) ? 'ood' : label[i] !== y ? 'relabeled' : 'clean');
  }
  return { q, label, clean, status };
}
