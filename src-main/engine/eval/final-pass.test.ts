// The final pass in bounded pieces: samples.csv written block by block is byte for byte toCsv's text, the
// kNN in small tiles finds what one tile finds, and judge leaks no tensors; the eval forward (inferAll, the feature
// pass) chunk by chunk equals one forward, and the async forms (webgpu's) give the sync forms' arrays.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { toCsv } from '../../util/csv';
import { Rng } from '../../../src-shared/rng';
import { createEncoder, disposeEncoder, EMBED_DIM, featureDim, forward } from '../nets/model';
import {
  featureProjection,
  finalChunk,
  inferAll,
  inferAllAsync,
  judge,
  judgeAsync,
  unitRows,
  writeCsvAtomicSync,
  type JudgeOptions,
} from './final-pass';
import { extractFeatures, pixelBatch } from './features';
import { knn } from './ood-score';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-final-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** MoPro's judging with random unit prototypes of dimension d and the kNN label-entropy ood_score. */
function moproJudgeOptions(r: Rng, K: number, d: number): JudgeOptions {
  return {
    method: 'mopro',
    protos: unitRows(
      Float32Array.from({ length: K * d }, () => r.normal()),
      K,
    ),
    tau: 0.1,
    alpha: 0.5,
    threshold: 0.6,
    oodScore: 'knn-label',
  };
}

describe('final pass in pieces', () => {
  it('writeCsvAtomicSync writes toCsv bytes, across flushes, quotes and non-ASCII', () => {
    const rows = Array.from({ length: 30_000 }, (_, i) => [
      `cls ${i % 7}/ïmg,${i}.png`,
      i % 3 ? 'a' : '=cmd',
      '',
      'clean',
      (i / 7).toFixed(6),
      '"q"',
    ]);
    const file = path.join(tmp, 'samples.csv');
    writeCsvAtomicSync(file, ['path', 'x', 'y', 'status', 'c', 'o'], rows.length, (i) => rows[i]!);
    expect(fs.readFileSync(file, 'utf8')).toBe(toCsv(['path', 'x', 'y', 'status', 'c', 'o'], rows));
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a failing row leaves the previous file in place and no temp file', () => {
    const file = path.join(tmp, 'keep.csv');
    fs.writeFileSync(file, 'old\n');
    expect(() =>
      writeCsvAtomicSync(file, ['a'], 10, (i) => {
        if (i === 5) throw new Error('row 5 broke');
        return [i];
      }),
    ).toThrow(/row 5 broke/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old\n');
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('final-pass chunks: 256 images up to 64 px, fewer pixels per forward above', () => {
    expect([28, 64, 96, 224, 512].map(finalChunk)).toEqual([256, 256, 113, 20, 4]);
  });

  it('knn in 7 x 7 tiles equals one tile, skipping self; no tensor leaks', async () => {
    await tf.setBackend('cpu');
    const r = new Rng(4),
      n = 60,
      d = 5;
    const x = unitRows(
      Float32Array.from({ length: n * d }, () => r.normal()),
      n,
    );
    const before = tf.memory().numTensors;
    const whole = knn(x, n, x, n, d, 6, 0);
    const blocked = knn(x, n, x, n, d, 6, 0, 7 * 7);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(blocked.idx)).toEqual(Array.from(whole.idx));
    expect(Array.from(blocked.sim)).toEqual(Array.from(whole.sim));
    for (let i = 0; i < n; i++) expect(Array.from(whole.idx.subarray(i * 6, i * 6 + 6))).not.toContain(i);
    // brute force: the first neighbour is the most similar other row
    for (let i = 0; i < n; i++) {
      let best = -1,
        bs = -Infinity;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        let s = 0;
        for (let t = 0; t < d; t++) s += x[i * d + t]! * x[j * d + t]!;
        if (s > bs) ((bs = s), (best = j));
      }
      expect(whole.idx[i * 6]).toBe(best);
    }
  });

  it('judge with excluded rows and features: statuses for every row, no tensor leaks', async () => {
    await tf.setBackend('cpu');
    const r = new Rng(9),
      n = 80,
      K = 4,
      d = EMBED_DIM,
      F = 16;
    const given = Int32Array.from({ length: n }, (_, i) => i % K);
    const logits = Float32Array.from({ length: n * K }, (_, t) => (t % K === given[Math.floor(t / K)] ? 2 : 0));
    const emb = unitRows(
      Float32Array.from({ length: n * d }, () => r.normal()),
      n,
    );
    const feat = Float32Array.from({ length: n * F }, (_, t) =>
      (t % F) % K === given[Math.floor(t / F)]! ? 3 : r.normal(),
    );
    const excluded = Uint8Array.from({ length: n }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const before = tf.memory().numTensors;
    const res = judge({ logits, emb, feat }, given, K, moproJudgeOptions(r, K, d), new Uint8Array(n), excluded);
    expect(tf.memory().numTensors).toBe(before);
    expect(res.rows).toHaveLength(n);
    expect(res.bank.n).toBe(n - 8);
    for (let i = 0; i < n; i += 10) expect(res.rows[i]).toMatchObject({ status: 'ood', ood: 1 });
    expect(res.counts.clean + res.counts.relabeled + res.counts.ood).toBe(n);
  });
  it('inferAll in chunks of 7: one forward of all rows (features projected, mirrored); inferAllAsync and the feature pass the same arrays; no tensor leaks', async () => {
    await tf.setBackend('cpu');
    const n = 20,
      enc = createEncoder('resnet-micro', 1, 3, 5, false),
      F0 = featureDim('resnet-micro');
    const x = tf.tidy(() => tf.randomUniform([n, 8, 8, 1], -1, 1, 'float32', 11) as tf.Tensor4D);
    const batchOf = (idx: Int32Array) => tf.gather(x, tf.tensor1d(idx, 'int32')) as tf.Tensor4D;
    try {
      inferAll(enc, n, batchOf, 7); // first use allocates kernels' state
      const before = tf.memory().numTensors;
      for (const flip of [false, true]) {
        const opts = { feat: true, featDim: 16, flip };
        const done: number[] = [];
        const a = inferAll(enc, n, batchOf, 7, (d) => done.push(d), opts);
        const b = await inferAllAsync(enc, n, batchOf, 7, undefined, opts);
        expect(done).toEqual([7, 14, 20]);
        // reference: every row in one forward, the projection as a plain product
        const ref = tf.tidy(() => {
          const o = forward(enc, flip ? (tf.reverse(x, 2) as tf.Tensor4D) : x, false);
          const P = tf.tensor2d(featureProjection(F0, 16), [F0, 16]);
          return [o.logits, o.emb, tf.matMul(o.feat, P)].map((t) => t.dataSync() as Float32Array);
        });
        const close = (u: Float32Array, v: Float32Array) => {
          expect(u.length).toBe(v.length);
          for (let i = 0; i < u.length; i++) expect(Math.abs(u[i]! - v[i]!)).toBeLessThan(1e-5);
        };
        close(a.logits, ref[0]!);
        close(a.emb, ref[1]!);
        close(a.feat!, ref[2]!);
        expect(a.feat).toHaveLength(n * 16);
        for (const k of ['logits', 'emb', 'feat'] as const) expect(Array.from(b[k]!)).toEqual(Array.from(a[k]!));
        // the frozen-encoder feature pass is the same forward, features unprojected
        const pixels = new Uint8Array(n * 64).map((_, i) => (i * 37) % 256);
        const f = extractFeatures(
          enc,
          pixels,
          Int32Array.from({ length: n }, (_, i) => i),
          8,
          1,
          { mean: [0.5], std: [0.25] },
          { chunk: 7, flip },
        );
        const mean = tf.tensor1d([0.5]),
          std = tf.tensor1d([0.25]);
        const g = inferAll(enc, n, (idx) => pixelBatch(pixels, idx, 8, 1, mean, std), 7, undefined, {
          feat: true,
          flip,
        });
        mean.dispose();
        std.dispose();
        expect(f.dim).toBe(F0);
        for (const k of ['logits', 'emb', 'feat'] as const) expect(Array.from(f[k])).toEqual(Array.from(g[k]!));
        expect(inferAll(enc, n, batchOf, 7).feat).toBeUndefined();
      }
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      x.dispose();
      disposeEncoder(enc);
    }
  });

  it("judgeAsync gives judge's result: wide features projected, the kNN over 3 tiles; no tensor leaks", async () => {
    await tf.setBackend('cpu');
    const r = new Rng(21),
      n = 1100,
      K = 5,
      d = EMBED_DIM,
      F = 300; // wider than FINAL_FEAT_DIM: the projection pass; 1100 rows: two bank tiles of 1024
    const given = Int32Array.from({ length: n }, (_, i) => i % K);
    const logits = Float32Array.from({ length: n * K }, () => r.normal());
    const emb = unitRows(
      Float32Array.from({ length: n * d }, () => r.normal()),
      n,
    );
    const feat = Float32Array.from({ length: n * F }, (_, t) =>
      (t % F) % K === given[Math.floor(t / F)]! ? 0.3 + r.normal() : r.normal(),
    );
    const opts = moproJudgeOptions(r, K, d);
    const excluded = Uint8Array.from({ length: n }, (_, i) => (i % 50 === 3 ? 1 : 0));
    const fixed = Uint8Array.from({ length: n }, (_, i) => (i % 70 === 5 ? 1 : 0));
    const before = tf.memory().numTensors;
    const a = judge({ logits, emb, feat }, given, K, opts, fixed, excluded);
    const b = await judgeAsync({ logits, emb, feat }, given, K, opts, fixed, excluded);
    expect(tf.memory().numTensors).toBe(before);
    expect(b.rows).toEqual(a.rows);
    expect(Array.from(b.q)).toEqual(Array.from(a.q));
    expect(b.counts).toEqual(a.counts);
    expect(b.rule).toEqual(a.rule);
    expect(a.counts.ood).toBeGreaterThan(0);
    expect(new Set(a.rows.map((w) => w.ood)).size).toBeGreaterThan(n / 2); // real scores, not a constant
  });
});
