// knn against a brute-force reference (every dot product in float64, sorted by similarity then index): on
// integer vectors, where float32 dot products are exact and ties are many, it must match exactly, ties
// broken to the lower index; on random unit vectors the neighbour sets and the final pass's score (normalised
// entropy of the neighbours' labels) must match to float precision. Tiny tiles make every path run: the
// triangle of tiles when the queries are the bank, query x bank tiles otherwise, partial edge tiles.
// On every backend that runs here (wasm, cpu, and webgpu where an adapter exists: in CI lavapipe) knnAsync is
// checked against the reference; on the synchronous ones knn is too, and must give knnAsync's arrays exactly.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src-shared/rng';
import { NUMERIC_BACKENDS, unavailable, useBackend, type TestBackend } from '../backends/test-backends';
import { knn, knnAsync, neighbourShares, OOD_SCORE_NAMES, oodScores, oodScoresAsync } from './ood-score';
import { normalisedEntropy } from './status-rule';

/** The reference: k best bank rows of each query row by (similarity desc, index asc), self skipped. */
function bruteKnn(q: Float32Array, nq: number, b: Float32Array, nb: number, d: number, k: number, selfOffset = -1) {
  const idx = new Int32Array(nq * k).fill(-1),
    sim = new Float64Array(nq * k);
  for (let i = 0; i < nq; i++) {
    const cand: [number, number][] = [];
    for (let j = 0; j < nb; j++) {
      if (selfOffset >= 0 && j === selfOffset + i) continue;
      let s = 0;
      for (let t = 0; t < d; t++) s += q[i * d + t]! * b[j * d + t]!;
      cand.push([s, j]);
    }
    cand.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    cand.slice(0, k).forEach(([s, j], c) => {
      idx[i * k + c] = j;
      sim[i * k + c] = s;
    });
  }
  return { idx, sim };
}

function unitRows(n: number, d: number, r: Rng, centres = 0): Float32Array {
  const c = Float32Array.from({ length: Math.max(1, centres) * d }, () => r.normal());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const o = centres ? r.int(centres) * d : -1;
    let z = 0;
    for (let t = 0; t < d; t++) z += (x[i * d + t] = (o >= 0 ? c[o + t]! : 0) + r.normal()) ** 2;
    for (let t = 0; t < d; t++) x[i * d + t]! /= Math.sqrt(z);
  }
  return x;
}

const intRows = (n: number, d: number, r: Rng): Float32Array =>
  Float32Array.from({ length: n * d }, () => r.int(3) - 1);

/** knnAsync on this backend; where the backend reads synchronously, knn too, which must give the same arrays. */
async function neighbours(backend: TestBackend, ...a: Parameters<typeof knn>) {
  const got = await knnAsync(...a);
  if (backend !== 'webgpu') {
    const sync = knn(...a);
    expect(Array.from(sync.idx)).toEqual(Array.from(got.idx));
    expect(Array.from(sync.sim)).toEqual(Array.from(got.sim));
  }
  return got;
}

describe.each(NUMERIC_BACKENDS)('knn on %s equals brute force', (_label, backend) => {
  const nn = (...a: Parameters<typeof knn>) => neighbours(backend, ...a);
  it.skipIf(unavailable(backend))(
    'integer vectors (exact ties): same indices and similarities, lower index first on ties',
    async () => {
      await useBackend(backend);
      const r = new Rng(11),
        n = 157,
        d = 6,
        k = 9;
      const x = intRows(n, d, r);
      const q = intRows(40, d, r);
      const before = tf.memory().numTensors;
      const cases = [
        // the bank against itself: triangle of tiles (side 16, 10 x 10 with a partial last one), and one tile
        { got: await nn(x, n, x, n, d, k, 0, 16 * 16), ref: bruteKnn(x, n, x, n, d, k, 0) },
        { got: await nn(x, n, x, n, d, k, 0), ref: bruteKnn(x, n, x, n, d, k, 0) },
        // other queries (predict): query blocks x bank tiles
        { got: await nn(q, 40, x, n, d, k, -1, 7 * 13), ref: bruteKnn(q, 40, x, n, d, k) },
        // queries that are bank rows 30.. given as a copy (not the same array): self skipped by index
        {
          got: await nn(x.slice(30 * d, 90 * d), 60, x, n, d, k, 30, 10 * 10),
          ref: bruteKnn(x.slice(30 * d), 60, x, n, d, k, 30),
        },
      ];
      if (backend === 'webgpu') {
        // the synchronous read fails on webgpu in Node: the pass's own tensors (bank tile, queued product) are freed
        expect(() => knn(x, n, x, n, d, k, 0, 16 * 16)).toThrow();
      }
      expect(tf.memory().numTensors).toBe(before);
      for (const { got, ref } of cases) {
        expect(Array.from(got.idx)).toEqual(Array.from(ref.idx));
        expect(Array.from(got.sim)).toEqual(Array.from(ref.sim));
      }
      // the ties are real: many rows have equal similarities at the k-th place
      let tied = 0;
      for (let i = 0; i < n; i++) if (cases[0]!.ref.sim[i * k + k - 1] === cases[0]!.ref.sim[i * k + k - 2]) tied++;
      expect(tied).toBeGreaterThan(n / 2);
    },
    60_000,
  );

  it.skipIf(unavailable(backend))(
    'random unit vectors: same neighbour sets and the same ood_score; k above a class size and the bank size',
    async () => {
      await useBackend(backend);
      const r = new Rng(5),
        n = 300,
        d = 24,
        k = 50,
        K = 30; // 10 rows per label on average: k = 50 is well above a class size
      const x = unitRows(n, d, r, 12);
      const labels = Int32Array.from({ length: n }, () => r.int(K));
      const before = tf.memory().numTensors;
      const got = await nn(x, n, x, n, d, k, 0, 64 * 64),
        ref = bruteKnn(x, n, x, n, d, k, 0);
      expect(tf.memory().numTensors).toBe(before);
      for (let i = 0; i < n * k; i++) expect(got.sim[i]).toBeCloseTo(ref.sim[i]!, 5);
      let same = 0;
      for (let i = 0; i < n; i++) {
        const a = new Set(got.idx.subarray(i * k, (i + 1) * k));
        if (Array.from(ref.idx.subarray(i * k, (i + 1) * k)).every((j) => a.has(j))) same++;
        // a differing set may only swap rows tied with the k-th to float precision
        else expect(Math.abs(ref.sim[i * k + k - 1]! - got.sim[i * k + k - 1]!)).toBeLessThan(1e-6);
      }
      expect(same).toBeGreaterThanOrEqual(n - 2);
      const refF = { idx: ref.idx, sim: Float32Array.from(ref.sim) };
      const eg = normalisedEntropy(neighbourShares(got, k, labels, K), K),
        er = normalisedEntropy(neighbourShares(refF, k, labels, K), K);
      for (let i = 0; i < n; i++) expect(eg[i]).toBeCloseTo(er[i]!, 5);

      // a bank smaller than k: every other row, then -1
      const small = await nn(x, 5, x, 5, d, 7, 0, 4);
      expect(tf.memory().numTensors).toBe(before);
      for (let i = 0; i < 5; i++) {
        const row = Array.from(small.idx.subarray(i * 7, (i + 1) * 7));
        expect(row.slice(4)).toEqual([-1, -1, -1]);
        expect(row.slice(0, 4).sort()).toEqual([0, 1, 2, 3, 4].filter((j) => j !== i));
      }
    },
    60_000,
  );
});

describe('oodScoresAsync', () => {
  it('gives oodScores for every formula (knn-label: the neighbour search read with await data()); no tensor leaks', async () => {
    await tf.setBackend('cpu');
    const r = new Rng(17),
      n = 40,
      nb = 90,
      K = 3,
      d = 8;
    const unit = (m: number) =>
      Float32Array.from({ length: m * d }, () => r.normal()).map((v, t, a) => {
        const o = Math.floor(t / d) * d;
        return v / Math.hypot(...a.subarray(o, o + d));
      });
    const x = {
      emb: unit(n),
      protos: unit(K),
      q: Float32Array.from({ length: n * K }, () => r.next()),
      n,
      K,
      d,
      bank: { emb: unit(nb), labels: Int32Array.from({ length: nb }, (_, i) => i % K), n: nb },
    };
    const before = tf.memory().numTensors;
    for (const name of OOD_SCORE_NAMES) {
      const a = oodScores(name, x),
        b = await oodScoresAsync(name, x);
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(new Set(a).size).toBeGreaterThan(n / 2);
    }
    await expect(oodScoresAsync('nope', x)).rejects.toThrow(/unknown ood_score formula "nope"/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
