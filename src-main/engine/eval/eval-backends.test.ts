// The training run's final pass, predict, cRT (retrain-classifier) and the probe give wasm's answers on every
// backend that runs here (wasm, cpu, and webgpu where a WebGPU adapter exists: in CI lavapipe, skipped with the
// reason elsewhere), without leaking tensors. One tiny run (3 classes of the bundled sample, 8 px, 1 epoch on wasm) serves
// them all; wasm's own outputs, read synchronously, are the reference.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEncoder, disposeEncoder, featureDim } from '../nets/model';
import { headsInferAll, headsInferAllAsync } from '../train/frozen-features';
import { Rng } from '../../../src-shared/rng';
import { loadModel } from '../nets/model-io';
import { cropBoxes } from '../train/multicrop';
import { inferCrops, inferCropsAsync, runPredict, type CropInferOut } from './predict';
import { runProbe, type ProbeResult } from './probe';
import { retrainClassifier, type RetrainResult } from './retrain-classifier';
import { runTraining } from '../train/train-run';
import { PREDICTIONS_HEADER, SAMPLES_HEADER } from '../../../src-shared/run-format';
import { parseCsv } from '../../util/csv';
import type { EngineEvent } from '../types';
import { NUMERIC_BACKENDS, unavailable, useBackend, type TestBackend } from '../backends/test-backends';

const sample = path.resolve(__dirname, '../../../resources/sample');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-eval-backends-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cacheDir = path.join(tmp, 'cache');
const run = path.join(tmp, 'run');
const folder = path.join(tmp, 'pred');
const CLASSES = ['Bag', 'Sandal', 'Trouser'];

function copyFirst(from: string, to: string, n: number) {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from).sort().slice(0, n)) fs.copyFileSync(path.join(from, f), path.join(to, f));
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const csv = (f: string) => parseCsv(fs.readFileSync(f, 'utf8'), PREDICTIONS_HEADER, f);

/** wasm's answers, read synchronously */
let ref: {
  crops: CropInferOut[];
  predict: ReturnType<typeof csv>;
  crt: RetrainResult;
  crtHead: Float32Array;
  probe: ProbeResult;
};
const BOXES = [cropBoxes(1, 8, 8), cropBoxes(10, 8, 8)];

/** 5 fixed random images through inferCrops (sync) or inferCropsAsync, for each crop scheme */
async function crops(async: boolean): Promise<CropInferOut[]> {
  const { meta, enc, protos } = loadModel(run);
  const x = tf.tidy(() => tf.randomUniform([5, 8, 8, 1], -1, 1, 'float32', 7) as tf.Tensor4D);
  const batchOf = (idx: Int32Array) => tf.gather(x, tf.tensor1d(idx, 'int32')) as tf.Tensor4D;
  try {
    const out: CropInferOut[] = [];
    for (const boxes of BOXES)
      out.push(
        async
          ? await inferCropsAsync(enc, 5, batchOf, boxes, 8, protos, meta.tau, 20)
          : inferCrops(enc, 5, batchOf, boxes, 8, protos, meta.tau, 20),
      );
    return out;
  } finally {
    x.dispose();
    disposeEncoder(enc);
  }
}
const crt = (backend: TestBackend, name: string, emit?: (e: EngineEvent) => void) =>
  retrainClassifier({ run, out: path.join(tmp, name), backend, cacheDir, epochs: 3 }, emit);
const crtHead = (out: string) => {
  const { enc } = loadModel(out);
  const w = Float32Array.from(enc.params.get('cls/w')!.dataSync());
  disposeEncoder(enc);
  return w;
};
const probe = (backend: TestBackend, emit?: (e: EngineEvent) => void) =>
  runProbe({ run, folder, shots: [2], draws: 2, backend, cacheDir }, emit);
/** the backend the job chose (its 'backend' event) */
const chosen = (events: EngineEvent[]) => events.find((e) => e.type === 'backend');

beforeAll(async () => {
  for (const c of CLASSES) copyFirst(path.join(sample, c), path.join(tmp, 'data', c), 8);
  // a labelled folder (one sub-folder per class) for predict's summary and the probe
  for (const c of CLASSES) copyFirst(path.join(sample, c), path.join(folder, c), 4);
  await useBackend('wasm');
  const r = await runTraining(
    {
      dataset: path.join(tmp, 'data'),
      out: run,
      method: 'mopro',
      epochs: 1,
      batchSize: 12,
      imageSize: 8,
      backend: 'wasm',
      cacheDir,
      seed: 1,
    },
    () => {},
    { shouldStop: () => false },
  );
  expect(r.state).toBe('done');
  const out = path.join(tmp, 'ref.csv');
  await runPredict({ run, folder, out, backend: 'wasm', cacheDir });
  const c = await crt('wasm', 'crt-ref');
  ref = { crops: await crops(false), predict: csv(out), crt: c, crtHead: crtHead(c.out), probe: await probe('wasm') };
}, 120_000);

/** The frozen-backbone final pass: fixed heads over 50 fixed random features, in chunks of 16 */
async function heads(async: boolean) {
  const enc = createEncoder('resnet-micro', 1, 3, 1);
  const dim = featureDim('resnet-micro'),
    r = new Rng(5);
  const feat = Float32Array.from({ length: 50 * dim }, () => r.normal());
  try {
    return async ? await headsInferAllAsync(enc, feat, 50, dim, 16) : headsInferAll(enc, feat, 50, dim, 16);
  } finally {
    disposeEncoder(enc);
  }
}

describe.each(NUMERIC_BACKENDS)('final pass, predict, cRT and probe on %s', (_label, backend) => {
  it.skipIf(unavailable(backend))(
    "the frozen heads' pass (headsInferAllAsync): wasm's logits and embeddings within 1e-4; no tensor leak",
    async () => {
      await useBackend('wasm');
      const want = await heads(false);
      await useBackend(backend);
      await heads(true);
      const before = tf.memory().numTensors;
      const got = await heads(true);
      expect(tf.memory().numTensors).toBe(before);
      expect(maxDiff(got.logits, want.logits)).toBeLessThan(1e-4);
      expect(maxDiff(got.emb, want.emb)).toBeLessThan(1e-4);
      if (backend !== 'webgpu') expect(await heads(false)).toEqual(got); // the sync drain: the same ops
    },
    60_000,
  );

  it.skipIf(unavailable(backend))(
    "inferCropsAsync (1 and 10 crops): wasm's probabilities and embeddings within 1e-4; no tensor leak",
    async () => {
      await useBackend(backend);
      await crops(true); // first use compiles kernels / allocates backend state
      const before = tf.memory().numTensors;
      const got = await crops(true);
      expect(tf.memory().numTensors).toBe(before);
      got.forEach((g, j) => {
        expect(maxDiff(g.p, ref.crops[j].p)).toBeLessThan(1e-4);
        expect(maxDiff(g.s, ref.crops[j].s)).toBeLessThan(1e-4);
        expect(maxDiff(g.emb, ref.crops[j].emb)).toBeLessThan(1e-4);
      });
    },
    60_000,
  );

  it.skipIf(unavailable(backend))(
    `runPredict --backend ${backend}: wasm's labels, confidences and ood_scores; no tensor leak`,
    async () => {
      const out = path.join(tmp, `pred-${backend}.csv`);
      const events: EngineEvent[] = [];
      await runPredict({ run, folder, out, backend, cacheDir }, (e) => events.push(e));
      expect(chosen(events)).toMatchObject({ name: backend });
      const before = tf.memory().numTensors;
      const r = await runPredict({ run, folder, out, backend, cacheDir });
      expect(tf.memory().numTensors).toBe(before);
      expect(r.count).toBe(12);
      const rows = csv(out);
      expect(rows.map((w) => [w.path, w.predicted_label])).toEqual(ref.predict.map((w) => [w.path, w.predicted_label]));
      expect(
        maxDiff(
          rows.map((w) => Number(w.confidence)),
          ref.predict.map((w) => Number(w.confidence)),
        ),
      ).toBeLessThan(1e-4);
      expect(
        maxDiff(
          rows.map((w) => Number(w.ood_score)),
          ref.predict.map((w) => Number(w.ood_score)),
        ),
      ).toBeLessThan(1e-4);
    },
    60_000,
  );

  it.skipIf(unavailable(backend))(
    `retrain-classifier --backend ${backend}: wasm's losses, classifier and statuses; no tensor leak`,
    async () => {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const events: EngineEvent[] = [];
      const r = await crt(backend, `crt-${backend}`, (e) => events.push(e));
      expect(tf.memory().numTensors).toBe(before);
      expect(chosen(events)).toMatchObject({ name: backend });
      expect(r.trainRows).toBe(ref.crt.trainRows);
      expect(r.perClass).toEqual(ref.crt.perClass);
      expect(maxDiff(r.losses, ref.crt.losses)).toBeLessThan(1e-4);
      expect(maxDiff(crtHead(r.out), ref.crtHead)).toBeLessThan(1e-4);
      expect(r.counts).toEqual(ref.crt.counts);
      // webgpu re-judges (kNN, ood_score) itself; only the model writer moves to wasm
      const logs = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
      expect(logs.filter((m) => m.includes('synchronously'))).toEqual(
        backend === 'webgpu' ? ['the model written on wasm: it reads tensors synchronously, which webgpu cannot'] : [],
      );
      const rows = parseCsv(fs.readFileSync(path.join(r.out, 'samples.csv'), 'utf8'), SAMPLES_HEADER);
      const refRows = parseCsv(fs.readFileSync(path.join(ref.crt.out, 'samples.csv'), 'utf8'), SAMPLES_HEADER);
      expect(rows.map((w) => [w.path, w.status, w.corrected_label])).toEqual(
        refRows.map((w) => [w.path, w.status, w.corrected_label]),
      );
    },
    60_000,
  );

  it.skipIf(unavailable(backend))(
    `the training run's final pass on ${backend} (a finished run resumed): wasm's statuses, labels, q and ood_score; no tensor leak`,
    async () => {
      // the run's last checkpoint is its final epoch, so a resume runs the final pass alone, on this backend
      const out = path.join(tmp, `final-${backend}`);
      fs.cpSync(run, out, { recursive: true });
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const events: EngineEvent[] = [];
      const r = await runTraining(
        { dataset: path.join(tmp, 'data'), out, method: 'mopro', epochs: 1, backend, cacheDir, resume: true },
        (e) => events.push(e),
        { shouldStop: () => false },
      );
      expect(tf.memory().numTensors).toBe(before);
      expect(r.state).toBe('done');
      expect(chosen(events)).toMatchObject({ name: backend });
      // webgpu runs the forward pass and the kNN itself; only the model writer moves to wasm
      const logs = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
      expect(logs.filter((m) => m.includes('synchronously'))).toEqual(
        backend === 'webgpu' ? ['the model writer on wasm: it reads tensors synchronously, which webgpu cannot'] : [],
      );
      const rows = parseCsv(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8'), SAMPLES_HEADER);
      const refRows = parseCsv(fs.readFileSync(path.join(run, 'samples.csv'), 'utf8'), SAMPLES_HEADER);
      expect(rows).toHaveLength(24);
      expect(rows.map((w) => [w.path, w.status, w.corrected_label])).toEqual(
        refRows.map((w) => [w.path, w.status, w.corrected_label]),
      );
      const q = (dir: string) =>
        new Float32Array(new Uint8Array(fs.readFileSync(path.join(dir, 'arrays', 'q.f32'))).buffer);
      const tol = backend === 'wasm' ? 0 : 1e-4; // wasm: the reference's own code path, bit for bit
      expect(maxDiff(q(out), q(run))).toBeLessThanOrEqual(tol);
      for (const col of ['confidence', 'ood_score'] as const)
        expect(
          maxDiff(
            rows.map((w) => Number(w[col])),
            refRows.map((w) => Number(w[col])),
          ),
        ).toBeLessThanOrEqual(tol);
    },
    60_000,
  );

  it.skipIf(unavailable(backend))(
    `probe --backend ${backend}: wasm's per-draw accuracies; no tensor leak`,
    async () => {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const events: EngineEvent[] = [];
      const r = await probe(backend, (e) => events.push(e));
      expect(tf.memory().numTensors).toBe(before);
      expect(chosen(events)).toMatchObject({ name: backend });
      expect(r.results.map((s) => s.testImages)).toEqual(ref.probe.results.map((s) => s.testImages));
      // one test image either way at most: the heads see features within 1e-4 of wasm's
      const tol = 1 / ref.probe.results[0].testImages + 1e-9;
      expect(maxDiff(r.results[0].accuracies, ref.probe.results[0].accuracies)).toBeLessThanOrEqual(tol);
    },
    60_000,
  );
});
