// ood_score: a 0..1 score that RANKS out-of-distribution images first (issue 2 wants AUROC >= 0.9).
// MoPro's own rule only flags OOD through the 1/K test on q (kept as `status`); a ranking needs a
// continuous score. Candidates (all computed, one chosen by config.oodScore, others measured in tuning):
//   proto:  1 - max_k cos(v, c_k), mapped to 0..1 ((1 - cos)/2): distance to the nearest class prototype
//   q:      1 - max_k q_k (low cleaned confidence)
//   qgiven: 1 - q[y] (the web label is implausible AND no class is confident -> combined with q below)
//   mix:    mean of proto and q
export type OodScoreKind = 'proto' | 'q' | 'mix';

export function oodScores(kind: string, emb: Float32Array, protos: Float32Array, q: Float32Array, n: number, K: number, d: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let maxCos = -1, maxQ = 0;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += emb[i * d + t] * protos[k * d + t];
      if (s > maxCos) maxCos = s;
      if (q[i * K + k] > maxQ) maxQ = q[i * K + k];
    }
    const proto = Math.min(1, Math.max(0, (1 - maxCos) / 2));
    const qs = 1 - maxQ;
    out[i] = kind === 'q' ? qs : kind === 'mix' ? (proto + qs) / 2 : proto;
  }
  return out;
}
