// Trainer: no tensor leaks across steps (both methods), the loss record of a step, checkpoint round-trip and exact resume.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineConfig } from './config';
import { Trainer } from './trainer';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { unavailable, useBackend, WEBGPU_MISSING } from '../backends/test-backends';
import { smallTrainConfig, syntheticTrainData } from './test-data';

const config = (method: 'mopro' | 'ce', over: Partial<EngineConfig> = {}) => smallTrainConfig(method, 8, over);

const snapshot = (t: Trainer) => [...t.query.params.values()].map((v) => Array.from(v.dataSync()));

// wasm only: one step of even an 8x8 conv net takes seconds on the pure-JS cpu backend (the numerics of each
// op are checked on cpu in engine/tensor-ops.test.ts).
describe.each(['wasm'] as const)('trainer on %s', (backend) => {
  it.each(['mopro', 'ce'] as const)(
    '%s: tf.memory().numTensors stays flat across steps',
    async (method) => {
      await useBackend(backend);
      const t = new Trainer(config(method), syntheticTrainData(64, 8, 4), { mean: [0.3], std: [0.2] });
      await t.step();
      await t.step();
      const before = tf.memory().numTensors;
      const infos = [];
      for (let i = 0; i < 10; i++) infos.push(await t.step()); // crosses into the cleaning epoch
      expect(t.state.epoch).toBeGreaterThanOrEqual(1);
      expect(tf.memory().numTensors).toBe(before);
      // the loss record: every term read back, the total their weighted sum; plain CE has no MoPro terms
      const c = t.cfg;
      for (const x of infos) {
        expect(Object.keys(x.losses).sort()).toEqual(['ce', 'ins', 'pro']);
        expect(x.losses.ce).toBeGreaterThan(0);
        if (method === 'ce') expect([x.losses.ins, x.losses.pro]).toEqual([0, 0]);
        else expect(Math.min(x.losses.ins, x.losses.pro)).toBeGreaterThan(0);
        expect(x.loss).toBeCloseTo(x.losses.ce + c.wIns * x.losses.ins + c.wPro * x.losses.pro, 4);
      }
      t.dispose();
    },
    120_000,
  );

  it('mopro: checkpoint round-trip resumes bit-identically (weights, key encoder, optimiser, queue, prototypes, RNG)', async () => {
    await useBackend(backend);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-ckpt-'));
    const data = syntheticTrainData(64, 8, 4),
      norm = { mean: [0.3], std: [0.2] };
    const a = new Trainer(config('mopro'), data, norm);
    for (let i = 0; i < 5; i++) await a.step(); // mid-epoch (8 steps per epoch)
    saveCheckpoint(dir, a, [], 1);
    const b = new Trainer(config('mopro', { seed: 99 }), data, norm); // different init: must be overwritten
    const meta = loadCheckpoint(dir, b);
    expect(meta.step).toBe(5);
    expect(snapshot(b)).toEqual(snapshot(a));
    for (let i = 0; i < 6; i++) {
      await a.step();
      await b.step();
    } // crosses the epoch boundary into cleaning
    expect(snapshot(b)).toEqual(snapshot(a));
    expect(Array.from(b.protos)).toEqual(Array.from(a.protos));
    expect(Array.from(b.queue!.data)).toEqual(Array.from(a.queue!.data));
    expect(b.rng.state).toBe(a.rng.state);
    a.dispose();
    b.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});

describe('trainer on webgpu', () => {
  // the step's single read-back on a GPU backend: kept tensors are released (webgpu where an adapter exists)
  it.skipIf(unavailable('webgpu'))(
    `mopro on webgpu: numTensors stays flat across steps, losses finite${WEBGPU_MISSING ? ` (skipped: ${WEBGPU_MISSING})` : ''}`,
    async () => {
      await useBackend('webgpu');
      const t = new Trainer(config('mopro'), syntheticTrainData(64, 8, 4), { mean: [0.3], std: [0.2] });
      await t.step();
      const before = tf.memory().numTensors;
      const infos = [];
      for (let i = 0; i < 10; i++) infos.push(await t.step()); // crosses into the cleaning epoch
      expect(t.state.epoch).toBeGreaterThanOrEqual(1);
      expect(tf.memory().numTensors).toBe(before);
      expect(infos.every((x) => Number.isFinite(x.loss) && x.losses.ins > 0)).toBe(true);
      t.dispose();
      await useBackend('wasm');
    },
    180_000,
  );
});
