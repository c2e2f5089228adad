// predict with test-time crops on a tiny run (3 classes of the bundled sample, 16 px, 1 epoch, wasm):
// the labelled-folder summary (accuracy, calibration), crop averaging, no tensor leak.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { calibration } from './calibration';
import { disposeEncoder } from '../nets/model';
import { loadModel } from '../nets/model-io';
import { cropBoxes } from '../train/multicrop';
import { evaluateLabelled, folderLabels, inferCrops, runPredict, summaryPath } from './predict';
import { runTraining } from '../train/train-run';
import { PREDICTIONS_HEADER } from '../../../src-shared/run-format';
import { parseCsv } from '../../util/csv';
import type { EngineEvent } from '../types';
import { BACKENDS, useBackend } from '../backends/test-backends';

const sample = path.resolve(__dirname, '../../../resources/sample');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-predict-'));
const cacheDir = path.join(tmp, 'cache');
const run = path.join(tmp, 'run');
const folder = path.join(tmp, 'pred');
const CLASSES = ['Bag', 'Coat', 'Sandal'];

function copyFirst(from: string, to: string, n: number, rename = (f: string) => f) {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from).sort().slice(0, n))
    fs.copyFileSync(path.join(from, f), path.join(to, rename(f)));
}

beforeAll(async () => {
  for (const c of CLASSES) copyFirst(path.join(sample, c), path.join(tmp, 'data', c), 12);
  // labelled: Bag/ and Coat/ (5 each); unlabelled: a folder that is no class and files at the top level
  copyFirst(path.join(sample, 'Bag'), path.join(folder, 'Bag'), 5);
  copyFirst(path.join(sample, 'Coat'), path.join(folder, 'Coat'), 5);
  copyFirst(path.join(sample, 'Dress'), path.join(folder, 'misc'), 2);
  copyFirst(path.join(sample, 'Sandal'), folder, 2);
  await useBackend('wasm');
  await runTraining(
    {
      dataset: path.join(tmp, 'data'),
      out: run,
      method: 'mopro',
      epochs: 1,
      batchSize: 12,
      imageSize: 16,
      backend: 'wasm',
      cacheDir,
    },
    () => {},
    { shouldStop: () => false },
  );
}, 240_000);

describe('folderLabels / evaluateLabelled', () => {
  it('first-level folder named like a class = label; other folders and top-level files = -1', () => {
    expect(
      Array.from(folderLabels(['Coat/x.png', 'Bag/a/b.png', 'x.png', 'Dress/y.png', 'coat/z.png'], ['Bag', 'Coat'])),
    ).toEqual([1, 0, -1, -1, -1]);
  });

  it('accuracy and calibration of max q over labelled rows only', () => {
    // rows: argmax 0 (0.8, label 0: right), argmax 1 (0.6, label 0: wrong), unlabelled
    const q = Float32Array.from([0.8, 0.2, 0.4, 0.6, 0.5, 0.5]);
    const e = evaluateLabelled(q, 2, Int32Array.from([0, 0, -1]))!;
    expect(e.labelled).toBe(2);
    expect(e.accuracy).toBe(0.5);
    expect(e.calibration.ece).toBeCloseTo(0.5 * Math.abs(1 - 0.8) + 0.5 * Math.abs(0 - 0.6), 6);
    expect(evaluateLabelled(q, 2, Int32Array.from([-1, -1, -1]))).toBeNull();
  });
});

describe('inferCrops (trained model)', () => {
  for (const be of BACKENDS) {
    it(`${be}: averages probabilities over crops; the mean embedding is re-normalised`, async () => {
      await useBackend(be);
      const { meta, enc, protos } = loadModel(run);
      const S = meta.imageSize,
        K = meta.classes.length;
      const x = tf.randomNormal([3, S, S, meta.channels], 0, 1, 'float32', 3) as tf.Tensor4D;
      const batchOf = (idx: Int32Array) => tf.gather(x, tf.tensor1d(idx, 'int32')) as tf.Tensor4D;
      const [whole] = cropBoxes(1, S, S),
        mirror = { ...whole, flip: true };
      const a = inferCrops(enc, 3, batchOf, [whole], S, protos, meta.tau);
      const b = inferCrops(enc, 3, batchOf, [mirror], S, protos, meta.tau);
      const before = tf.memory().numTensors;
      const ab = inferCrops(enc, 3, batchOf, [whole, mirror], S, protos, meta.tau, 4); // 2 images per forward
      expect(tf.memory().numTensors).toBe(before);
      for (let t = 0; t < 3 * K; t++) {
        expect(ab.p[t]).toBeCloseTo((a.p[t] + b.p[t]) / 2, 5);
        expect(ab.s[t]).toBeCloseTo((a.s[t] + b.s[t]) / 2, 5);
      }
      for (let i = 0; i < 3; i++) {
        let n2 = 0,
          dot = 0,
          na = 0;
        for (let t = 0; t < 128; t++) {
          const m = (a.emb[i * 128 + t] + b.emb[i * 128 + t]) / 2;
          n2 += ab.emb[i * 128 + t] ** 2;
          dot += ab.emb[i * 128 + t] * m;
          na += m * m;
        }
        expect(n2).toBeCloseTo(1, 5);
        expect(dot / Math.sqrt(na)).toBeCloseTo(1, 5); // same direction as the plain mean
      }
      x.dispose();
      disposeEncoder(enc);
    }, 60_000);
  }
});

describe('runPredict --crops on a labelled folder', () => {
  for (const crops of [1, 10, 144] as const) {
    it(`crops ${crops}: CSV unchanged in format, summary JSON with accuracy and calibration`, async () => {
      const out = path.join(tmp, `pred-${crops}.csv`);
      const events: EngineEvent[] = [];
      const r = await runPredict({ run, folder, out, backend: 'wasm', cacheDir, crops }, (e) => events.push(e));
      const fp = events.filter((e) => e.type === 'phase' && e.phase === 'final-pass');
      expect(fp.at(-1)).toMatchObject({ done: 14, total: 14 });
      // images per forward: 256 rows / crops (144 crops: one image at a time)
      expect(fp).toHaveLength(Math.ceil(14 / Math.floor(256 / crops)));
      expect(events.filter((e) => e.type === 'phase' && e.phase === 'writing').at(-1)).toMatchObject({
        done: 1,
        total: 1,
      });
      const rows = parseCsv(fs.readFileSync(out, 'utf8'), PREDICTIONS_HEADER, 'predictions.csv');
      expect(fs.readFileSync(out, 'utf8').split('\n')[0]).toBe(PREDICTIONS_HEADER.join(','));
      expect(rows).toHaveLength(14);
      expect(r.count).toBe(14);
      expect(r.crops).toBe(crops);
      expect(r.summary).toBe(summaryPath(out));
      const sum = JSON.parse(fs.readFileSync(`${out}.summary.json`, 'utf8'));
      expect(sum).toMatchObject({ crops, n: 10, predicted: 14, model: path.resolve(run) });
      expect(Number.isNaN(Date.parse(sum.time))).toBe(false);
      expect(sum.accuracy).toBeGreaterThanOrEqual(0);
      expect(sum.accuracy).toBeLessThanOrEqual(1);
      expect(sum.ece).toBeGreaterThanOrEqual(0);
      expect(sum.ece).toBeLessThanOrEqual(1);
      expect(sum.mce).toBeGreaterThanOrEqual(sum.ece - 1e-12);
      expect(sum.bins).toHaveLength(15);
      expect(sum.bins.reduce((s: number, b: { count: number }) => s + b.count, 0)).toBe(10);
      // recomputed from the CSV: labelled rows are those under Bag/ and Coat/
      const lab = rows.filter((w) => /^(Bag|Coat)\//.test(w.path));
      expect(lab).toHaveLength(10);
      const correct = lab.map((w) => (w.predicted_label === w.path.split('/')[0] ? 1 : 0));
      expect(sum.accuracy).toBeCloseTo(correct.reduce<number>((s, v) => s + v, 0) / 10, 12);
      const ref = calibration(
        Float32Array.from(lab, (w) => Number(w.confidence)),
        Uint8Array.from(correct),
      );
      expect(sum.ece).toBeCloseTo(ref.ece, 4);
      expect(r.labelled!.labelled).toBe(10);
      expect(r.labelled!.calibration.ece).toBe(sum.ece);
    }, 120_000);
  }

  it('10 crops change the confidences; no tensor leak between two predicts', async () => {
    await useBackend('wasm');
    const c1 = parseCsv(fs.readFileSync(path.join(tmp, 'pred-1.csv'), 'utf8'), PREDICTIONS_HEADER, 'p');
    const c10 = parseCsv(fs.readFileSync(path.join(tmp, 'pred-10.csv'), 'utf8'), PREDICTIONS_HEADER, 'p');
    expect(c10.map((w) => w.path)).toEqual(c1.map((w) => w.path));
    expect(c10.some((w, i) => w.confidence !== c1[i].confidence)).toBe(true);
    const out = path.join(tmp, 'leak.csv');
    await runPredict({ run, folder, out, backend: 'wasm', cacheDir, crops: 10 });
    const before = tf.memory().numTensors;
    await runPredict({ run, folder, out, backend: 'wasm', cacheDir, crops: 10 });
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('an unlabelled folder: no summary (a stale one is removed); bad --crops is refused', async () => {
    const out = path.join(tmp, 'flat.csv');
    fs.writeFileSync(summaryPath(out), '{}');
    const r = await runPredict({ run, folder: path.join(folder, 'misc'), out, backend: 'wasm', cacheDir, crops: 10 });
    expect(r.labelled).toBeNull();
    expect(r.summary).toBeNull();
    expect(r.count).toBe(2);
    expect(fs.existsSync(summaryPath(out))).toBe(false);
    await expect(runPredict({ run, folder, out, backend: 'wasm', cacheDir, crops: 3 as never })).rejects.toThrow(
      /1, 10 or 144/,
    );
  }, 120_000);
});
