// The final pass in bounded pieces: samples.csv written block by block is byte for byte toCsv's text, the
// kNN in small tiles finds what one tile finds, and judge leaks no tensors.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { toCsv } from '../../util/csv';
import { Rng } from '../../../src-shared/rng';
import { EMBED_DIM } from '../nets/model';
import { finalChunk, judge, unitRows, writeCsvAtomicSync } from './final-pass';
import { knn } from './ood-score';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-final-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

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
    const res = judge(
      { logits, emb, feat },
      given,
      K,
      {
        method: 'mopro',
        protos: unitRows(
          Float32Array.from({ length: K * d }, () => r.normal()),
          K,
        ),
        tau: 0.1,
        alpha: 0.5,
        threshold: 0.6,
        oodScore: 'knn-label',
      },
      new Uint8Array(n),
      excluded,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(res.rows).toHaveLength(n);
    expect(res.bank.n).toBe(n - 8);
    for (let i = 0; i < n; i += 10) expect(res.rows[i]).toMatchObject({ status: 'ood', ood: 1 });
    expect(res.counts.clean + res.counts.relabeled + res.counts.ood).toBe(n);
  });
});
