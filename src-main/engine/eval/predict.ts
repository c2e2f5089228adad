// predict: classify every image under a folder (recursively) with a run's model -> predictions.csv
// (path relative to the folder, predicted_label, confidence = max q, ood_score as in the run).
// --crops 10 / 144 averages the test-time crops of multicrop.ts. When the folder is labelled (first-level
// sub-folders named like the model's classes), top-1 accuracy and calibration go to <out>.summary.json.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { loadPixelSource } from '../../dataset/decode';
import { listImages } from '../../dataset/scan';
import { PREDICTIONS_HEADER } from '../../../src-shared/run-format';
import { toCsv } from '../../util/csv';
import { writeAtomicSync } from '../../util/atomic';
import { cacheDir as defaultCacheDir } from '../../paths';
import { selectBackend } from '../backends/backend';
import { readEach, readEachSync, readsOnlyAsync, type ReadPass } from '../backends/read-back';
import { calibration } from './calibration';
import { pixelBatch } from './features';
import { protoSimilarities } from './final-pass';
import { EMBED_DIM, disposeEncoder, forward, type Encoder } from '../nets/model';
import { loadModel } from '../nets/model-io';
import { applyCrops, cropBoxes, CROP_SCHEMES, type CropBox, type CropScheme } from '../train/multicrop';
import { softmaxRows } from '../mopro/noise-cleaning';
import { oodScores, oodScoresAsync } from './ood-score';
import type { EngineEvent, PredictOptions } from '../types';

export interface PredictEvaluation {
  labelled: number;
  accuracy: number;
  calibration: ReturnType<typeof calibration>;
}

export interface PredictResult {
  out: string;
  count: number;
  skipped: { path: string; reason: string }[];
  /** test-time crops averaged per image */
  crops: CropScheme;
  /** accuracy + calibration over the files under class-named sub-folders; null when there are none */
  labelled: PredictEvaluation | null;
  /** <out>.summary.json, written when labelled is not null */
  summary: string | null;
}

/** Calibration bins of the summary (Guo et al. 2017 use 15). */
export const CALIBRATION_BINS = 15;
/** At most this many rows (images x crops) per forward pass. */
export const MAX_FORWARD_ROWS = 256;

/** The summary JSON's path for a predictions CSV: the CSV's full name + '.summary.json'. */
export function summaryPath(out: string): string {
  return `${path.resolve(out)}.summary.json`;
}

/**
 * The true label of each listed file from its first-level folder: 'Coat/x.png' -> index of 'Coat' when the
 * model has that class; files at the top level or under other folders -> -1 (unlabelled).
 */
export function folderLabels(rels: readonly string[], classes: readonly string[]): Int32Array {
  const ix = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(rels, (rel) => {
    const parts = rel.split(/[\\/]/);
    return parts.length > 1 ? (ix.get(parts[0]) ?? -1) : -1;
  });
}

export interface CropInferOut {
  /** n x K: classifier softmax averaged over the crops */
  p: Float32Array;
  /** n x K: softmax(v . c_k / tau) averaged over the crops */
  s: Float32Array;
  /** n x d: mean of the crops' embeddings, re-normalised to unit length (for ood_score) */
  emb: Float32Array;
}

/**
 * Eval-mode forward of every image under `boxes`, averaging PROBABILITIES over crops (not logits: the
 * 10/144-crop protocols average softmax outputs). Images are batched so that images x crops <= maxRows.
 * The ood_score needs one embedding per image: the crops' mean, re-normalised (a mean of unit vectors is
 * shorter than 1 and the scores assume cosine = dot product).
 */
export function inferCrops(...a: Parameters<typeof cropPass>): CropInferOut {
  return readEachSync(cropPass(...a));
}

/** inferCrops reading each batch back with `await data()` (runs on webgpu too); the same numbers. */
export function inferCropsAsync(...a: Parameters<typeof cropPass>): Promise<CropInferOut> {
  return readEach(cropPass(...a));
}

/** The crop pass: yields each batch's logits and embeddings as one [rows, K + d] tensor (one read). */
function* cropPass(
  enc: Encoder,
  n: number,
  batchOf: (idx: Int32Array) => tf.Tensor4D,
  boxes: CropBox[],
  size: number,
  protos: Float32Array,
  tau: number,
  maxRows = MAX_FORWARD_ROWS,
  onProgress?: (done: number) => void,
): ReadPass<CropInferOut> {
  const K = enc.numClasses,
    d = EMBED_DIM,
    nb = boxes.length;
  const p = new Float32Array(n * K),
    s = new Float32Array(n * K),
    emb = new Float32Array(n * d);
  // the single whole-image box is the identity: skip cropAndResize so --crops 1 is today's pass bit for bit
  const identity =
    nb === 1 && !boxes[0].flip && boxes[0].y1 === 0 && boxes[0].x1 === 0 && boxes[0].y2 === 1 && boxes[0].x2 === 1;
  const per = Math.max(1, Math.floor(maxRows / nb));
  for (let s0 = 0; s0 < n; s0 += per) {
    const m = Math.min(per, n - s0),
      rows = m * nb;
    const idx = Int32Array.from({ length: m }, (_, i) => s0 + i);
    const both: Float32Array = yield tf.tidy(() => {
      const x = batchOf(idx);
      const o = forward(enc, identity ? x : applyCrops(x, boxes, size), false);
      return tf.concat([o.logits, o.emb], 1);
    });
    const logits = new Float32Array(rows * K),
      e = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) {
      logits.set(both.subarray(r * (K + d), r * (K + d) + K), r * K);
      e.set(both.subarray(r * (K + d) + K, (r + 1) * (K + d)), r * d);
    }
    // prototype similarities exactly as the final pass computes them
    const pc = softmaxRows(logits, rows, K),
      sc = softmaxRows(protoSimilarities(e, protos, rows, K, d), rows, K, tau);
    for (let i = 0; i < m; i++) {
      const o = (s0 + i) * K;
      for (let k = 0; k < K; k++) {
        let a = 0,
          b = 0;
        for (let j = 0; j < nb; j++) {
          a += pc[(i * nb + j) * K + k];
          b += sc[(i * nb + j) * K + k];
        }
        p[o + k] = a / nb;
        s[o + k] = b / nb;
      }
      const v = new Float64Array(d);
      for (let j = 0; j < nb; j++) for (let t = 0; t < d; t++) v[t] += e[(i * nb + j) * d + t];
      let norm = 0;
      for (let t = 0; t < d; t++) norm += v[t] * v[t];
      // nb = 1: the row is already unit length; keep it as the forward returned it
      const inv = nb === 1 ? 1 : 1 / (Math.sqrt(norm) + 1e-12);
      for (let t = 0; t < d; t++) emb[(s0 + i) * d + t] = v[t] * inv;
    }
    onProgress?.(s0 + m);
  }
  return { p, s, emb };
}

/** Accuracy and calibration of max q over the labelled rows (label >= 0); null when none is labelled. */
export function evaluateLabelled(
  q: Float32Array,
  K: number,
  labels: Int32Array,
  bins = CALIBRATION_BINS,
): PredictEvaluation | null {
  const use: number[] = [];
  labels.forEach((l, i) => {
    if (l >= 0) use.push(i);
  });
  if (!use.length) return null;
  const conf = new Float32Array(use.length),
    correct = new Uint8Array(use.length);
  use.forEach((i, j) => {
    let am = 0;
    for (let k = 1; k < K; k++) if (q[i * K + k] > q[i * K + am]) am = k;
    conf[j] = q[i * K + am];
    correct[j] = am === labels[i] ? 1 : 0;
  });
  const cal = calibration(conf, correct, bins);
  return { labelled: use.length, accuracy: cal.accuracy, calibration: cal };
}

export async function runPredict(
  opts: PredictOptions,
  emit: (e: EngineEvent) => void = () => {},
): Promise<PredictResult> {
  const crops: CropScheme = opts.crops ?? 1;
  if (!CROP_SCHEMES.includes(crops)) throw new Error(`--crops ${String(crops)}: use 1, 10 or 144`);
  const backend = await selectBackend(opts.backend ?? 'auto', undefined, { webgpu: true });
  emit({ type: 'backend', ...backend });
  const { meta, enc, protos, bank } = loadModel(opts.run);
  const listed = await listImages(opts.folder);
  const files = listed.files;
  const load = await loadPixelSource(files, {
    size: meta.imageSize,
    channels: meta.channels,
    cacheDir: opts.cacheDir ?? defaultCacheDir(),
    onProgress: (d, t) => emit({ type: 'phase', phase: 'decode', done: d, total: t }),
  });
  const okIdx = files.map((_, i) => i).filter((i) => load.ok[i]);
  const S = meta.imageSize;
  const mean = tf.tensor1d(meta.mean),
    std = tf.tensor1d(meta.std);
  const batchOf = (idx: Int32Array) =>
    pixelBatch(
      load.pixels,
      Array.from(idx, (j) => okIdx[j]),
      S,
      meta.channels,
      mean,
      std,
    );
  const n = okIdx.length,
    K = meta.classes.length,
    d = EMBED_DIM;
  // The decoder already resized the shorter side to S and centre-cropped S x S (decode.ts, fit 'cover'), so
  // the crops are taken from that square: the 144 scheme's 3 squares coincide for every image here.
  const boxes = cropBoxes(crops, S, S);
  if (crops !== 1)
    emit({
      type: 'log',
      level: 'info',
      message: `averaging ${boxes.length} crops per image (${Math.max(1, Math.floor(MAX_FORWARD_ROWS / boxes.length))} images per forward)`,
    });
  let inf: CropInferOut;
  try {
    inf = await inferCropsAsync(enc, n, batchOf, boxes, S, protos, meta.tau, MAX_FORWARD_ROWS, (done) =>
      emit({ type: 'phase', phase: 'final-pass', done, total: n }),
    );
  } finally {
    mean.dispose();
    std.dispose();
    disposeEncoder(enc);
    load.pixels.close();
  }
  emit({ type: 'phase', phase: 'writing', done: 0, total: 1 });
  const q = new Float32Array(n * K);
  for (let t = 0; t < n * K; t++) q[t] = meta.alpha * inf.p[t] + (1 - meta.alpha) * inf.s[t];
  // the neighbour search on the pass's backend: webgpu reads only asynchronously, the others as before
  const oodIn = { emb: inf.emb, protos, q, n, K, d, bank };
  const ood = readsOnlyAsync() ? await oodScoresAsync(meta.oodScore, oodIn) : oodScores(meta.oodScore, oodIn);
  const rows = okIdx.map((fi, i) => {
    let am = 0;
    for (let k = 1; k < K; k++) if (q[i * K + k] > q[i * K + am]) am = k;
    return [files[fi].rel, meta.classes[am], q[i * K + am].toFixed(6), ood[i].toFixed(6)];
  });
  const out = path.resolve(opts.out);
  writeAtomicSync(out, toCsv(PREDICTIONS_HEADER, rows));
  const evaluation = evaluateLabelled(
    q,
    K,
    folderLabels(
      okIdx.map((fi) => files[fi].rel),
      meta.classes,
    ),
  );
  const sumFile = summaryPath(out);
  if (evaluation) {
    const c = evaluation.calibration;
    writeAtomicSync(
      sumFile,
      JSON.stringify(
        {
          crops,
          n: evaluation.labelled,
          predicted: n,
          accuracy: evaluation.accuracy,
          ece: c.ece,
          mce: c.mce,
          bins: c.bins,
          confidence: 'max q',
          model: path.resolve(opts.run),
          folder: path.resolve(opts.folder),
          predictions: out,
          time: new Date().toISOString(),
        },
        null,
        2,
      ) + '\n',
    );
    emit({
      type: 'log',
      level: 'info',
      message: `${evaluation.labelled} labelled images: top-1 ${(100 * evaluation.accuracy).toFixed(2)}%, ECE ${(100 * c.ece).toFixed(2)}% (${sumFile})`,
    });
  } else if (fs.existsSync(sumFile)) {
    // a summary left by an earlier predict into the same CSV would now describe other predictions
    fs.rmSync(sumFile, { force: true });
  }
  emit({ type: 'phase', phase: 'writing', done: 1, total: 1 });
  for (const sk of [...listed.skipped, ...load.skipped])
    emit({ type: 'log', level: 'warn', message: `skipped ${sk.path}: ${sk.reason}` });
  return {
    out,
    count: rows.length,
    skipped: [...listed.skipped, ...load.skipped],
    crops,
    labelled: evaluation,
    summary: evaluation ? sumFile : null,
  };
}
