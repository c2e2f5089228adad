// Class prototypes (mopro.md §1, §6.2): per-sample EMA, vectorised per class, then row renormalisation.
// Pure functions on row-major Float32Arrays (K x d); the tiny sizes make JS faster than tensor round trips.

/**
 * For each class k seen n times in the batch (samples v_1..v_n in batch order):
 *   c_k <- m^n c_k + (1-m) sum_j m^(n-1-j) v_j      (identical to n sequential EMA steps)
 * then every row is renormalised to unit L2 norm; a zero row stays zero. Returns a new array.
 * `use[i] = false` leaves sample i out (OOD after cleaning starts).
 */
export function updatePrototypes(
  protos: Float32Array,
  K: number,
  d: number,
  emb: Float32Array,
  labels: ArrayLike<number>,
  m: number,
  use?: ArrayLike<boolean>,
): Float32Array {
  const out = Float32Array.from(protos);
  const B = labels.length;
  // walk the batch backwards: the weight of sample j is (1-m) m^(#later samples of its class)
  const later = new Float64Array(K); // m^(count of later samples) per class
  later.fill(1);
  const acc = new Float64Array(K * d);
  for (let i = B - 1; i >= 0; i--) {
    if (use && !use[i]) continue;
    const k = labels[i];
    if (k < 0 || k >= K) continue;
    const w = (1 - m) * later[k];
    for (let t = 0; t < d; t++) acc[k * d + t] += w * emb[i * d + t];
    later[k] *= m;
  }
  for (let k = 0; k < K; k++) {
    if (later[k] === 1) continue; // class not in batch: untouched (rows are renormalised below anyway)
    for (let t = 0; t < d; t++) out[k * d + t] = later[k] * protos[k * d + t] + acc[k * d + t];
  }
  return normaliseRows(out, K, d);
}

export function normaliseRows(a: Float32Array, rows: number, d: number): Float32Array {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += a[r * d + t] * a[r * d + t];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let t = 0; t < d; t++) a[r * d + t] *= inv;
  }
  return a;
}

/** Class-mean initialisation (CAPro-style, used at the end of warm-up): normalised mean embedding per class;
 *  classes without samples keep their previous row. */
export function classMeanPrototypes(
  prev: Float32Array,
  K: number,
  d: number,
  emb: Float32Array,
  labels: ArrayLike<number>,
  use?: ArrayLike<boolean>,
): Float32Array {
  const out = Float32Array.from(prev);
  const sum = new Float64Array(K * d),
    cnt = new Int32Array(K);
  for (let i = 0; i < labels.length; i++) {
    if (use && !use[i]) continue;
    const k = labels[i];
    cnt[k]++;
    for (let t = 0; t < d; t++) sum[k * d + t] += emb[i * d + t];
  }
  for (let k = 0; k < K; k++) if (cnt[k]) for (let t = 0; t < d; t++) out[k * d + t] = sum[k * d + t] / cnt[k];
  return normaliseRows(out, K, d);
}
