// predict: classify every image under a folder (recursively) with a run's model -> predictions.csv
// (path relative to the folder, predicted_label, confidence = max q, ood_score as in the run).
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { loadImages } from '../dataset/decode';
import { listImages } from '../dataset/scan';
import { PREDICTIONS_HEADER } from '../run-format';
import { toCsv } from '../util/csv';
import { writeAtomicSync } from '../util/atomic';
import { cacheDir as defaultCacheDir } from '../paths';
import { selectBackend } from './backend';
import { inferAll } from './final-pass';
import { EMBED_DIM, disposeEncoder } from './model';
import { loadModel } from './model-io';
import { softmaxRows } from './noise-cleaning';
import { oodScores } from './ood-score';
import type { EngineEvent, PredictOptions } from './types';

export interface PredictResult { out: string; count: number; skipped: { path: string; reason: string }[] }

export async function runPredict(opts: PredictOptions, emit: (e: EngineEvent) => void = () => {}): Promise<PredictResult> {
  const backend = await selectBackend(opts.backend ?? 'auto');
  emit({ type: 'backend', ...backend });
  const { meta, enc, protos, bank } = loadModel(opts.run);
  const listed = await listImages(opts.folder);
  const files = listed.files;
  const load = await loadImages(files, { size: meta.imageSize, channels: meta.channels, cacheDir: opts.cacheDir ?? defaultCacheDir(),
    onProgress: (d, t) => emit({ type: 'phase', phase: 'decode', done: d, total: t }) });
  const okIdx = files.map((_, i) => i).filter((i) => load.ok[i]);
  const per = meta.imageSize * meta.imageSize * meta.channels;
  const mean = tf.tensor1d(meta.mean), std = tf.tensor1d(meta.std);
  const batchOf = (idx: Int32Array) => tf.tidy(() => {
    const buf = new Float32Array(idx.length * per);
    idx.forEach((j, r) => { const o = okIdx[j] * per; for (let t = 0; t < per; t++) buf[r * per + t] = load.pixels[o + t] / 255; });
    return tf.div(tf.sub(tf.tensor4d(buf, [idx.length, meta.imageSize, meta.imageSize, meta.channels]), mean), std) as tf.Tensor4D;
  });
  const n = okIdx.length, K = meta.classes.length, d = EMBED_DIM;
  const inf = inferAll(enc, n, batchOf, 256, (done) => emit({ type: 'phase', phase: 'final-pass', done, total: n }));
  mean.dispose(); std.dispose(); disposeEncoder(enc);
  const p = softmaxRows(inf.logits, n, K);
  const pl = new Float32Array(n * K);
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) { let s = 0; for (let t = 0; t < d; t++) s += inf.emb[i * d + t] * protos[k * d + t]; pl[i * K + k] = s; }
  const s = softmaxRows(pl, n, K, meta.tau);
  const q = new Float32Array(n * K);
  for (let t = 0; t < n * K; t++) q[t] = meta.alpha * p[t] + (1 - meta.alpha) * s[t];
  const ood = oodScores(meta.oodScore, inf.emb, protos, q, n, K, d, bank);
  const rows = okIdx.map((fi, i) => {
    let am = 0; for (let k = 1; k < K; k++) if (q[i * K + k] > q[i * K + am]) am = k;
    return [files[fi].rel, meta.classes[am], q[i * K + am].toFixed(6), ood[i].toFixed(6)];
  });
  const out = path.resolve(opts.out);
  writeAtomicSync(out, toCsv(PREDICTIONS_HEADER, rows));
  for (const sk of [...listed.skipped, ...load.skipped]) emit({ type: 'log', level: 'warn', message: `skipped ${sk.path}: ${sk.reason}` });
  return { out, count: rows.length, skipped: [...listed.skipped, ...load.skipped] };
}
