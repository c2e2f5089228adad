// Checkpoints (every epoch and on stop, atomic): query + key weights and BN buffers, optimiser velocity,
// queue, prototypes, RNG state, epoch/step and this epoch's order, and the per-epoch history so far.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { CHECKPOINT_DIR } from '../../../src-shared/run-format';
import type { EpochStats } from '../../../src-shared/contract';
import type { EngineConfig } from './config';
import type { DatasetIdentity } from './dataset-identity';
import type { Encoder } from '../nets/model';
import { readStore, writeStore, type StoredArray } from '../nets/tensor-store';
import type { Trainer } from './trainer';

const arr = (name: string, t: tf.Tensor): StoredArray => ({
  name,
  shape: t.shape,
  data: Float32Array.from(t.dataSync() as Float32Array),
});

function encoderArrays(prefix: string, e: Encoder): StoredArray[] {
  return [
    ...[...e.params].map(([n, v]) => arr(`${prefix}/p/${n}`, v)),
    ...[...e.buffers].map(([n, v]) => arr(`${prefix}/b/${n}`, v)),
  ];
}

export interface CheckpointMeta {
  config: EngineConfig;
  epoch: number;
  step: number;
  rngState: number;
  queuePtr: number;
  history: EpochStats[];
  wallSeconds: number;
  classSumLen: number;
  /** The dataset the run trains on (absent in checkpoints written before it was recorded). */
  dataset?: DatasetIdentity;
}

export function saveCheckpoint(
  out: string,
  t: Trainer,
  history: EpochStats[],
  wallSeconds: number,
  dataset?: DatasetIdentity,
): void {
  const s = t.state;
  const arrays: StoredArray[] = [...encoderArrays('q', t.query)];
  if (t.key) arrays.push(...encoderArrays('k', t.key));
  for (const [n, v] of t.sgd.velocity) arrays.push(arr(`v/${n}`, v));
  arrays.push({ name: 'protos', shape: [t.protos.length], data: t.protos });
  if (t.queue) arrays.push({ name: 'queue', shape: [t.queue.data.length], data: t.queue.data });
  if (s.perm) arrays.push({ name: 'perm', shape: [s.perm.length], data: Float32Array.from(s.perm) });
  if (s.classSum) {
    // float64 sums stored exactly as float32 hi + lo parts (a rounded sum would change the resumed run)
    const hi = Float32Array.from(s.classSum),
      lo = Float32Array.from(s.classSum, (v, i) => v - hi[i]);
    arrays.push(
      { name: 'classSum', shape: [hi.length], data: hi },
      { name: 'classSumLo', shape: [lo.length], data: lo },
    );
  }
  const meta: CheckpointMeta = {
    config: t.cfg,
    epoch: s.epoch,
    step: s.step,
    rngState: t.rng.state,
    queuePtr: t.queue?.ptr ?? 0,
    history,
    wallSeconds,
    classSumLen: s.classSum?.length ?? 0,
    ...(dataset ? { dataset } : {}),
  };
  writeStore(path.join(out, CHECKPOINT_DIR), 'checkpoint', meta as unknown as Record<string, unknown>, arrays);
}

export function hasCheckpoint(out: string): boolean {
  return fs.existsSync(path.join(out, CHECKPOINT_DIR, 'checkpoint.json'));
}

export function readCheckpointMeta(out: string): CheckpointMeta {
  return JSON.parse(fs.readFileSync(path.join(out, CHECKPOINT_DIR, 'checkpoint.json'), 'utf8')) as CheckpointMeta;
}

/** Restores everything into a trainer built with the checkpoint's config. */
export function loadCheckpoint(out: string, t: Trainer): CheckpointMeta {
  const { meta, arrays } = readStore(path.join(out, CHECKPOINT_DIR), 'checkpoint');
  const m = meta as unknown as CheckpointMeta;
  const put = (v: tf.Variable, name: string) => {
    const a = arrays.get(name);
    if (!a) throw new Error(`checkpoint lacks ${name}: it was written by a different model; train without --resume`);
    v.assign(tf.tensor(a.data, v.shape));
  };
  const restore = (prefix: string, e: Encoder) => {
    for (const [n, v] of e.params) put(v, `${prefix}/p/${n}`);
    for (const [n, v] of e.buffers) put(v, `${prefix}/b/${n}`);
  };
  tf.tidy(() => {
    restore('q', t.query);
    if (t.key) restore('k', t.key);
    for (const [n, v] of t.query.params) {
      const a = arrays.get(`v/${n}`);
      if (a) t.sgd.velocity.set(n, tf.variable(tf.tensor(a.data, v.shape), false));
    }
  });
  for (const v of t.sgd.velocity.values()) tf.keep(v);
  t.protos = arrays.get('protos')!.data;
  if (t.queue) {
    t.queue.data.set(arrays.get('queue')!.data);
    t.queue.ptr = m.queuePtr;
  }
  t.rng.state = m.rngState;
  const perm = arrays.get('perm');
  const cs = arrays.get('classSum');
  t.state = {
    epoch: m.epoch,
    step: m.step,
    perm: perm ? Int32Array.from(perm.data) : null,
    rngState: m.rngState,
    protos: t.protos,
    queuePtr: m.queuePtr,
    classSum: cs ? Float64Array.from(cs.data, (v, i) => v + (arrays.get('classSumLo')?.data[i] ?? 0)) : null,
  };
  return m;
}
