// The run's model/ folder: everything predict and the app need (weights, BN statistics, classes,
// input normalisation, prototypes and the cleaning constants). model.json + model.bin hold the query
// encoder in TF.js's weightsManifest layout, prototypes included as the array 'prototypes'.
import type { TrainMethod } from '../../../src-shared/contract';
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { MODEL_DIR } from '../../../src-shared/run-format';
import { createEncoder, type Encoder } from './model';
import { readStore, writeStore, type StoredArray } from './tensor-store';
import type { OodBank } from '../eval/ood-score';
import { isSafetensorsRun, loadSafetensorsRun, readSidecar, sidecarMeta } from './safetensors-run';

export interface ModelMeta {
  format: 'mopro-studio-model/1';
  arch: string;
  method: TrainMethod;
  classes: string[];
  imageSize: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  tau: number;
  alpha: number;
  threshold: number;
  oodScore: string;
}

/** At most this many training embeddings are kept for predict's neighbour-label ood_score (5 MB at 10k). */
export const BANK_MAX = 20000;

export function saveModel(runDir: string, meta: ModelMeta, enc: Encoder, protos: Float32Array, bank?: OodBank): void {
  const arrays: StoredArray[] = [];
  for (const [n, v] of enc.params)
    arrays.push({ name: n, shape: v.shape, data: Float32Array.from(v.dataSync() as Float32Array) });
  for (const [n, v] of enc.buffers)
    arrays.push({ name: n, shape: v.shape, data: Float32Array.from(v.dataSync() as Float32Array) });
  arrays.push({ name: 'prototypes', shape: [meta.classes.length, protos.length / meta.classes.length], data: protos });
  if (bank && bank.n) {
    // evenly spaced subset when the dataset is large (deterministic)
    const m = Math.min(bank.n, BANK_MAX),
      d = bank.emb.length / bank.n;
    const e = new Float32Array(m * d),
      l = new Float32Array(m);
    for (let j = 0; j < m; j++) {
      const i = Math.floor((j * bank.n) / m);
      e.set(bank.emb.subarray(i * d, (i + 1) * d), j * d);
      l[j] = bank.labels[i];
    }
    arrays.push({ name: 'bank/embeddings', shape: [m, d], data: e }, { name: 'bank/labels', shape: [m], data: l });
  }
  writeStore(path.join(runDir, MODEL_DIR), 'model', meta as unknown as Record<string, unknown>, arrays);
}

export function loadModel(runDir: string): { meta: ModelMeta; enc: Encoder; protos: Float32Array; bank?: OodBank } {
  // a run trained elsewhere (the PyTorch DDP job) carries torchvision-layout safetensors instead of model.json
  if (isSafetensorsRun(runDir)) return loadSafetensorsRun(runDir);
  const { meta, arrays } = readStore(path.join(runDir, MODEL_DIR), 'model');
  const m = meta as unknown as ModelMeta;
  if (m.format !== 'mopro-studio-model/1')
    throw new Error(
      `${path.join(runDir, MODEL_DIR, 'model.json')}: unknown model format; train again with this version`,
    );
  const enc = createEncoder(m.arch, m.channels, m.classes.length, 0, false);
  tf.tidy(() => {
    for (const [n, v] of [...enc.params, ...enc.buffers]) {
      const a = arrays.get(n);
      if (!a) throw new Error(`model.bin lacks ${n}: the model folder is damaged; train again`);
      v.assign(tf.tensor(a.data, v.shape));
    }
  });
  const be = arrays.get('bank/embeddings'),
    bl = arrays.get('bank/labels');
  const bank = be && bl ? { emb: be.data, labels: Int32Array.from(bl.data), n: bl.data.length } : undefined;
  return { meta: m, enc, protos: arrays.get('prototypes')!.data, bank };
}

/** The model's meta only (no weights): arch, classes, image size, channels. */
export function readModelMeta(runDir: string): ModelMeta {
  if (isSafetensorsRun(runDir)) return sidecarMeta(readSidecar(runDir));
  const jf = path.join(runDir, MODEL_DIR, 'model.json');
  if (!fs.existsSync(jf))
    throw new Error(`${jf} not found: ${runDir} is not a finished run folder (train it to the end first)`);
  const m = JSON.parse(fs.readFileSync(jf, 'utf8')) as ModelMeta;
  if (m.format !== 'mopro-studio-model/1')
    throw new Error(`${jf}: unknown model format; train again with this version`);
  return m;
}
