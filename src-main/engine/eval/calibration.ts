// Calibration of predicted confidences, Guo et al. 2017 "On Calibration of Modern Neural
// Networks": M equal-width bins on (0, 1], bin b = ((b-1)/M, b/M];
//   ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|,  MCE = max over non-empty bins of |acc - conf|.
// A confidence of exactly 0 goes in the first bin (the paper's bins leave 0 out), 1.0 in the last.

export interface CalibrationBin {
  lo: number;
  hi: number;
  count: number;
  accuracy: number;
  confidence: number;
}
export interface Calibration {
  ece: number;
  mce: number;
  n: number;
  accuracy: number;
  bins: CalibrationBin[];
}

/** Bin index of a confidence in (0, 1] with `bins` equal bins: ceil(c * M) - 1, 0 -> first bin. */
export function binOf(c: number, bins: number): number {
  return Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
}

/**
 * confidence[i] in [0, 1] (e.g. max q), correct[i] 1 when the prediction was right. Empty bins report
 * accuracy and confidence 0 and weigh nothing. n = 0 gives ece = mce = accuracy = 0.
 */
export function calibration(confidence: Float32Array, correct: Uint8Array, bins = 15): Calibration {
  if (confidence.length !== correct.length)
    throw new Error(`calibration: ${confidence.length} confidences but ${correct.length} outcomes`);
  if (!(Number.isInteger(bins) && bins >= 1))
    throw new Error(`calibration: bins must be a positive integer, got ${bins}`);
  const n = confidence.length;
  // float64 sums: float32 would drift on large sets
  const cnt = new Float64Array(bins),
    hit = new Float64Array(bins),
    conf = new Float64Array(bins);
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const c = confidence[i];
    if (!(c >= 0 && c <= 1)) throw new Error(`calibration: confidence ${c} at row ${i} is outside [0, 1]`);
    const b = binOf(c, bins);
    cnt[b]++;
    conf[b] += c;
    if (correct[i]) {
      hit[b]++;
      hits++;
    }
  }
  let ece = 0,
    mce = 0;
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const acc = cnt[b] ? hit[b] / cnt[b] : 0,
      cf = cnt[b] ? conf[b] / cnt[b] : 0;
    if (cnt[b]) {
      const gap = Math.abs(acc - cf);
      ece += (cnt[b] / n) * gap;
      mce = Math.max(mce, gap);
    }
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: cnt[b], accuracy: acc, confidence: cf });
  }
  return { ece, mce, n, accuracy: n ? hits / n : 0, bins: out };
}
