// Post-training tools on a tiny real run: cRT (retrain-classifier), the low-shot probe, --init and the
// linear-head trainer they share. The maths is checked on hand-made inputs; the tools end to end on the
// bundled sample (16 px, 2 epochs, wasm).
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyEncoderWeights } from '../nets/init-from-run';
import { argmaxRows, headLogits, trainLinearHead } from './linear-head';
import { createEncoder, disposeEncoder } from '../nets/model';
import { loadModel } from '../nets/model-io';
import { lowShotSplit, probeAccuracy, runProbe } from './probe';
import { crtEpochOrder, crtLr, crtRepeatFactors, retrainClassifier } from './retrain-classifier';
import { Rng } from '../../../src-shared/rng';
import { runTraining } from '../train/train-run';
import { parseCsv } from '../../util/csv';
import { SAMPLES_HEADER } from '../../../src-shared/run-format';
import { RunJson } from '../../../src-shared/run-json';
import { useBackend } from '../backends/test-backends';

const sample = path.resolve(__dirname, '../../../resources/sample');
/** images in the bundled sample (one line each in its truth file) */
const SAMPLE_N = fs.readFileSync(`${sample}.truth.jsonl`, 'utf8').trim().split('\n').length;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-post-'));
const cacheDir = path.join(tmp, 'cache');

/** Gaussian blobs: K classes in `dim` dimensions, well separated. */
function blobs(n: number, K: number, dim: number, seed: number) {
  const rng = new Rng(seed),
    centres = Array.from({ length: K * dim }, () => rng.normal() * 3);
  const x = new Float32Array(n * dim),
    y = Int32Array.from({ length: n }, (_, i) => i % K);
  for (let i = 0; i < n; i++)
    for (let t = 0; t < dim; t++) x[i * dim + t] = centres[y[i] * dim + t] + rng.normal() * 0.5;
  return { x, y };
}

describe('cRT maths (classifier_retrain.py)', () => {
  it('repeat factor int(10 sqrt(n_max / n_c)), 0 for an empty class', () => {
    expect(crtRepeatFactors([100, 25, 1, 0])).toEqual([10, 20, 100, 0]);
    expect(crtRepeatFactors([50, 49])).toEqual([10, 10]);
  });
  it('an epoch keeps the original size and draws the rare class far more often than its share', () => {
    const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 900 ? 0 : 1));
    const f = crtRepeatFactors([900, 100]); // [10, 30]
    const order = crtEpochOrder(labels, f, new Rng(3));
    expect(order.length).toBe(1000);
    const rare = Array.from(order).filter((i) => labels[i] === 1).length;
    // expected share of the rare class: 100*30 / (900*10 + 100*30) = 25%
    expect(Math.abs(rare / 1000 - 0.25)).toBeLessThan(0.04);
  });
  it('lr 0.01, x0.1 at epochs 5 and 10', () => {
    expect([0, 4, 5, 9, 10, 14].map((e) => crtLr(e))).toEqual(
      [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001].map((v) => expect.closeTo(v, 12)),
    );
  });
});

describe('linear head and probe split (wasm)', () => {
  it('separable blobs are learnt; no tensor leaks; init weights are the starting point', async () => {
    await useBackend('wasm');
    const { x, y } = blobs(300, 3, 8, 1);
    const all = Int32Array.from({ length: 300 }, (_, i) => i);
    const before = tf.memory().numTensors;
    const { head, losses } = trainLinearHead(x, y, 8, 3, {
      epochs: 20,
      batchSize: 32,
      lr: () => 0.05,
      momentum: 0.9,
      weightDecay: 0,
      order: () => all,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(losses[19]).toBeLessThan(losses[0]);
    const pred = argmaxRows(headLogits(head, x, 300), 300, 3);
    expect(pred.filter((p, i) => p === y[i]).length / 300).toBeGreaterThan(0.97);
    // zero epochs: the head is exactly its init
    const init = { w: Float32Array.from({ length: 24 }, (_, i) => i / 10), b: Float32Array.from([1, 2, 3]) };
    const z = trainLinearHead(x, y, 8, 3, {
      epochs: 0,
      batchSize: 32,
      lr: () => 1,
      momentum: 0.9,
      weightDecay: 0,
      order: () => all,
      init,
    });
    expect(Array.from(z.head.w)).toEqual(Array.from(init.w).map((v) => Math.fround(v)));
  });
  it('headLogits is x W + b', () => {
    const head = { w: Float32Array.from([1, 2, 3, 4]), b: Float32Array.from([0.5, -1]), dim: 2, K: 2 };
    expect(Array.from(headLogits(head, Float32Array.from([1, 1, 2, 0]), 2))).toEqual([4.5, 5, 2.5, 3]);
  });
  it('low-shot split: k per class for training, disjoint test, classes with <= k images left out', () => {
    const y = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 2]);
    const s = lowShotSplit(y, 3, 2, new Rng(1));
    expect(
      Array.from(s.train)
        .map((i) => y[i])
        .sort(),
    ).toEqual([0, 0, 1, 1]);
    expect(s.test.length).toBe(3);
    expect(new Set([...s.train, ...s.test]).size).toBe(7);
    expect([...s.train, ...s.test].includes(7)).toBe(false);
  });
  it('probe accuracy: high on clustered features, near chance on shuffled labels', async () => {
    await useBackend('wasm');
    const { x, y } = blobs(400, 4, 16, 2);
    const acc = probeAccuracy(x, y, 16, 4, lowShotSplit(y, 4, 4, new Rng(5)));
    expect(acc).toBeGreaterThan(0.9);
    const ys = Int32Array.from(new Rng(9).permutation(400), (j) => y[j]);
    expect(probeAccuracy(x, ys, 16, 4, lowShotSplit(ys, 4, 4, new Rng(5)))).toBeLessThan(0.45);
  });
});

describe('tools on a tiny run (sample, 16 px, wasm)', () => {
  const run = path.join(tmp, 'run');
  beforeAll(async () => {
    await useBackend('wasm');
    const r = await runTraining(
      {
        dataset: sample,
        out: run,
        method: 'mopro',
        epochs: 2,
        batchSize: 32,
        imageSize: 16,
        backend: 'wasm',
        cacheDir,
      },
      () => {},
      { shouldStop: () => false },
    );
    expect(r.state).toBe('done');
  }, 120_000);

  it('retrain-classifier writes a complete new run; encoder unchanged, classifier changed; source untouched', async () => {
    const srcBefore = fs.readFileSync(path.join(run, 'samples.csv'), 'utf8');
    const out = path.join(tmp, 'crt');
    const r = await retrainClassifier({ run, out, backend: 'wasm', cacheDir, epochs: 3 });
    expect(fs.readFileSync(path.join(run, 'samples.csv'), 'utf8')).toBe(srcBefore);
    const rows = parseCsv(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8'), SAMPLES_HEADER);
    expect(rows).toHaveLength(SAMPLE_N);
    expect(r.counts.clean + r.counts.relabeled + r.counts.ood).toBe(SAMPLE_N);
    const rj = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(RunJson.safeParse(rj).error).toBeUndefined(); // the cRT run.json fits the shared schema
    expect(rj.state).toBe('done');
    expect(rj.parent).toBe(run);
    expect(rj.crt.perClass.after.reduce((a: number, b: number) => a + b, 0)).toBe(r.trainRows);
    expect(r.losses).toHaveLength(3);
    const a = loadModel(run),
      b = loadModel(out);
    expect(Array.from(b.enc.params.get('stem/w')!.dataSync())).toEqual(
      Array.from(a.enc.params.get('stem/w')!.dataSync()),
    );
    expect(Array.from(b.enc.buffers.get('stem/bn/mean')!.dataSync())).toEqual(
      Array.from(a.enc.buffers.get('stem/bn/mean')!.dataSync()),
    );
    expect(Array.from(b.enc.params.get('cls/w')!.dataSync())).not.toEqual(
      Array.from(a.enc.params.get('cls/w')!.dataSync()),
    );
    disposeEncoder(a.enc);
    disposeEncoder(b.enc);
    await expect(retrainClassifier({ run, out, backend: 'wasm', cacheDir })).rejects.toThrow(/not empty/);
  }, 120_000);

  it('probe reports k-shot accuracy over 5 draws on a labelled folder; no tensor leak between calls', async () => {
    const r1 = await runProbe({ run, folder: sample, shots: [1, 4], backend: 'wasm', cacheDir });
    const n = tf.memory().numTensors;
    const r2 = await runProbe({ run, folder: sample, shots: [1, 4], backend: 'wasm', cacheDir });
    expect(tf.memory().numTensors).toBe(n);
    expect(r1.classes).toHaveLength(10);
    expect(r1.results.map((x) => x.accuracies.length)).toEqual([5, 5]);
    for (const x of r1.results) {
      expect(x.mean).toBeGreaterThan(0);
      expect(x.mean).toBeLessThanOrEqual(1);
    }
    expect(r2.results[1].mean).toBe(r1.results[1].mean); // seeded: same draws, same answer
    await expect(
      runProbe({ run, folder: path.join(sample, 'Bag'), shots: [1], backend: 'wasm', cacheDir }),
    ).rejects.toThrow(/labelled folder/);
  }, 120_000);

  it('--init copies every tensor of the earlier run (classifier too when the classes match)', async () => {
    const out = path.join(tmp, 'init');
    const r = await runTraining(
      { dataset: sample, out, method: 'mopro', epochs: 1, batchSize: 32, backend: 'wasm', cacheDir, init: run },
      () => {},
      { shouldStop: () => false },
    );
    expect(r.state).toBe('done');
    const rj = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(rj.config.imageSize).toBe(16); // taken from the init run
    expect(rj.init.classifier).toMatch(/copied/);
    expect(rj.init.skipped).toEqual([]);
    expect(rj.init.copied).toBeGreaterThan(20);
  }, 120_000);

  it('copyEncoderWeights: same names and shapes copied; a different class count leaves the classifier new', async () => {
    await useBackend('wasm');
    const a = createEncoder('resnet-micro', 1, 10, 1),
      b = createEncoder('resnet-micro', 1, 5, 2);
    const rep = copyEncoderWeights(a, b, { head: false });
    expect(rep.skipped.filter((s) => s.startsWith('cls/'))).toHaveLength(2);
    expect(Array.from(b.params.get('stem/w')!.dataSync())).toEqual(Array.from(a.params.get('stem/w')!.dataSync()));
    const c = createEncoder('resnet-micro', 1, 5, 3);
    expect(copyEncoderWeights(a, c, { head: true }).skipped.some((s) => /cls\/w \(shape/.test(s))).toBe(true);
    for (const e of [a, b, c]) disposeEncoder(e);
  });
});
