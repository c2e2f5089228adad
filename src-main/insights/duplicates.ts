// Near-duplicate pairs by embedding cosine. Exact (blocked all-pairs dot products on Float32Arrays)
// up to `maxExact` rows; above that, random-hyperplane LSH (SimHash) proposes candidate pairs that
// are then checked exactly, so a reported pair always has cosine >= threshold.
import { mulberry32 } from './layout';

export interface DuplicatePair {
  a: number;
  b: number;
  cosine: number;
}

export interface DuplicateOptions {
  threshold?: number; // cosine, default 0.98
  maxPairs?: number; //  keep the most similar (default 1000)
  maxExact?: number; //  rows up to which every pair is checked (default 3000: LSH found the same pairs 6x faster on a real 10k run)
  bits?: number; //      LSH hash bits per table (default 24)
  tables?: number; //    LSH tables (default 16)
  sketch?: number; //    dimensions of the random projection hashed for LSH (default 32)
  seed?: number;
}

/** Row norms, so cosine = dot / (|a||b|) even for embeddings that are not quite unit length. */
function norms(emb: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += emb[i * d + j] ** 2;
    out[i] = Math.sqrt(s) || 1;
  }
  return out;
}

function cosine(emb: Float32Array, d: number, nrm: Float32Array, a: number, b: number): number {
  let s = 0;
  const oa = a * d,
    ob = b * d;
  for (let j = 0; j < d; j++) s += emb[oa + j] * emb[ob + j];
  return s / (nrm[a] * nrm[b]);
}

/** Keeps the `max` most similar pairs without sorting everything found. */
class TopPairs {
  pairs: DuplicatePair[] = [];
  floor = -Infinity;
  constructor(private max: number) {}
  add(p: DuplicatePair): void {
    if (p.cosine < this.floor) return;
    this.pairs.push(p);
    if (this.pairs.length >= this.max * 2) this.trim();
  }
  trim(): void {
    this.pairs.sort((x, y) => y.cosine - x.cosine || x.a - y.a || x.b - y.b);
    this.pairs.length = Math.min(this.pairs.length, this.max);
    if (this.pairs.length === this.max) this.floor = this.pairs[this.max - 1].cosine;
  }
}

export interface DuplicateResult {
  pairs: DuplicatePair[];
  exact: boolean;
}

/**
 * Mean absolute difference (0..255) of two equally sized greyscale thumbnails. Near-identical
 * files (re-encoded, resized) stay within a few levels; two different photos of look-alike
 * objects differ by far more, even when their embeddings and dHashes agree.
 */
export function pixelDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length || a.length === 0) return 255;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Runs the search to the end in one go (tests, the bench). */
export function findDuplicates(emb: Float32Array, n: number, d: number, o: DuplicateOptions = {}): DuplicateResult {
  const it = duplicateSteps(emb, n, d, o);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/** The same search, giving the event loop a turn every ~50 ms (the server stays responsive at 100k rows). */
export async function findDuplicatesAsync(
  emb: Float32Array,
  n: number,
  d: number,
  o: DuplicateOptions = {},
): Promise<DuplicateResult> {
  const it = duplicateSteps(emb, n, d, o);
  let last = Date.now();
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
    if (Date.now() - last > 50) {
      await new Promise((res) => setImmediate(res));
      last = Date.now();
    }
  }
}

/** The search as a generator: it yields (nothing) at safe points so a caller can pause it. */
function* duplicateSteps(
  emb: Float32Array,
  n: number,
  d: number,
  o: DuplicateOptions,
): Generator<void, DuplicateResult> {
  if (emb.length < n * d) throw new Error(`findDuplicates: ${emb.length} values do not hold ${n} x ${d}`);
  const threshold = o.threshold ?? 0.98;
  const top = new TopPairs(o.maxPairs ?? 1000);
  const nrm = norms(emb, n, d);
  const exact = n <= (o.maxExact ?? 3000);
  if (exact) {
    const B = 128; // a block of rows stays in cache while it meets every later row
    for (let i0 = 0; i0 < n; i0 += B) {
      yield;
      const i1 = Math.min(n, i0 + B);
      for (let j = i0 + 1; j < n; j++) {
        const ob = j * d;
        for (let i = i0; i < Math.min(i1, j); i++) {
          let s = 0;
          const oa = i * d;
          for (let t = 0; t < d; t++) s += emb[oa + t] * emb[ob + t];
          const c = s / (nrm[i] * nrm[j]);
          if (c >= threshold) top.add({ a: i, b: j, cosine: c });
        }
      }
    }
  } else {
    const bits = Math.min(o.bits ?? 24, 30);
    const tables = o.tables ?? 16;
    const rnd = mulberry32(o.seed ?? 7);
    const gauss = (): number => Math.sqrt(-2 * Math.log(rnd() || 1e-12)) * Math.cos(2 * Math.PI * rnd());
    // Hash in a random 32-d sketch of the rows (Johnson-Lindenstrauss: angles survive to within a
    // few degrees), 4x fewer multiply-adds than hashing the 128-d rows; candidates are still
    // checked with the exact 128-d cosine, so this can only miss a pair, never invent one.
    const h = Math.min(d, o.sketch ?? 32);
    let src = emb,
      sd = d;
    if (h < d) {
      const R = new Float32Array(h * d);
      for (let p = 0; p < R.length; p++) R[p] = gauss();
      src = new Float32Array(n * h);
      for (let i = 0; i < n; i++) {
        if ((i & 4095) === 0) yield;
        const o = i * d;
        for (let k = 0; k < h; k++) {
          const ro = k * d;
          let s = 0;
          for (let j = 0; j < d; j++) s += emb[o + j] * R[ro + j];
          src[i * h + k] = s;
        }
      }
      sd = h;
    }
    const planes = new Float32Array(bits * sd);
    const keys: Int32Array[] = [];
    // (key << 21 | row) as one float64 per row: the native numeric sort groups equal keys (exact
    // while key < 2^31 and n < 2^21).
    const packed = new Float64Array(n);
    const SHIFT = 2097152;
    if (n >= SHIFT) throw new Error(`findDuplicates: ${n} rows is more than the LSH index handles (${SHIFT - 1})`);
    for (let t = 0; t < tables; t++) {
      for (let p = 0; p < planes.length; p++) planes[p] = gauss();
      const kt = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if ((i & 4095) === 0) yield;
        const o = i * sd;
        let key = 0;
        for (let b = 0; b < bits; b++) {
          const po = b * sd;
          let s = 0;
          for (let j = 0; j < sd; j++) s += src[o + j] * planes[po + j];
          if (s > 0) key |= 1 << b;
        }
        kt[i] = key;
        packed[i] = (key >>> 0) * SHIFT + i;
      }
      keys.push(kt);
      packed.sort();
      let nextYield = 4096;
      for (let s = 0; s < n;) {
        if (s >= nextYield) {
          yield;
          nextYield = s + 4096;
        }
        const key = Math.floor(packed[s] / SHIFT);
        let e = s + 1;
        while (e < n && Math.floor(packed[e] / SHIFT) === key) e++;
        for (let x = s; x < e; x++) {
          const a = packed[x] % SHIFT;
          for (let y = x + 1; y < e; y++) {
            const b = packed[y] % SHIFT; // a < b: rows are in order within a key
            // Met in an earlier table already: checked there.
            let seen = false;
            for (let u = 0; u < t && !seen; u++) seen = keys[u][a] === keys[u][b];
            if (seen) continue;
            const c = cosine(emb, d, nrm, a, b);
            if (c >= threshold) top.add({ a, b, cosine: c });
          }
        }
        s = e;
      }
    }
  }
  top.trim();
  return { pairs: top.pairs, exact };
}
