// A whole run in this thread leaves no tensor and no tf variable behind. The app runs each job in a process of
// its own, but tests, benchmarks and the data-parallel rank 0 train in-thread, where a leak adds up run after run.
// Tiny runs (3 classes x 8 images of the bundled sample, 16 px, wasm): MoPro with cleaning from epoch 1 (key
// encoder, queue, prototypes, the cleaning rule, checkpoints, the final pass and the model all run), plain CE, a
// frozen backbone, a stopped and resumed run, and a run that fails mid-training.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTraining, type RunControl } from './train-run';
import { useBackend } from '../backends/test-backends';
import type { TrainOptions } from '../types';

const sample = path.resolve(__dirname, '../../../resources/sample');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-run-memory-'));
const data = path.join(tmp, 'data');
const base: TrainOptions = {
  dataset: data,
  out: '',
  method: 'mopro',
  epochs: 2,
  batchSize: 8,
  imageSize: 16,
  arch: 'resnet-micro',
  backend: 'wasm',
  seed: 1,
  cacheDir: path.join(tmp, 'cache'),
};
// cleaning from the second epoch (the default waits at least 2 epochs)
const ctl: RunControl = { shouldStop: () => false, overrides: { cleanStartEpoch: 1 } };

/** what the thread holds: tensors (variables included) and registered variables */
const held = () => [tf.memory().numTensors, Object.keys(tf.engine().state.registeredVariables).length];

beforeAll(async () => {
  for (const c of ['Bag', 'Coat', 'Sandal']) {
    fs.mkdirSync(path.join(data, c), { recursive: true });
    for (const f of fs.readdirSync(path.join(sample, c)).sort().slice(0, 8))
      fs.copyFileSync(path.join(sample, c, f), path.join(data, c, f));
  }
  await useBackend('wasm');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('runTraining in-thread: no tensor left behind', () => {
  it('MoPro with cleaning and the final pass, twice; plain CE; frozen backbone from that run', async () => {
    const before = held();
    const r1 = await runTraining({ ...base, out: path.join(tmp, 'mopro-1') }, () => {}, ctl);
    expect(r1.state).toBe('done');
    expect(held()).toEqual(before);
    const run = JSON.parse(fs.readFileSync(path.join(tmp, 'mopro-1', 'run.json'), 'utf8'));
    expect(run.config.cleanStartEpoch).toBe(1);
    expect(run.epochs).toHaveLength(2);
    await runTraining({ ...base, out: path.join(tmp, 'mopro-2') }, () => {}, ctl);
    expect(held()).toEqual(before);

    await runTraining({ ...base, method: 'ce', out: path.join(tmp, 'ce') }, () => {}, ctl);
    expect(held()).toEqual(before);

    // --freeze-backbone (needs starting weights: the run above); then unfrozen for the last epoch
    const frozen = { ...base, init: path.join(tmp, 'mopro-1'), freezeBackbone: true };
    await runTraining({ ...frozen, out: path.join(tmp, 'frozen') }, () => {}, ctl);
    expect(held()).toEqual(before);
    await runTraining({ ...frozen, unfreezeAfter: 1, out: path.join(tmp, 'unfrozen') }, () => {}, ctl);
    expect(held()).toEqual(before);
  }, 60_000);

  it('a run stopped after a step and resumed; a run that fails mid-training', async () => {
    const before = held();
    const out = path.join(tmp, 'stopped');
    let steps = 0;
    const r1 = await runTraining(
      { ...base, out },
      (e) => {
        if (e.type === 'step') steps++;
      },
      { ...ctl, shouldStop: () => steps >= 1 },
    );
    expect(r1.state).toBe('stopped');
    expect(held()).toEqual(before);
    const r2 = await runTraining({ ...base, out, resume: true }, () => {}, ctl);
    expect(r2.state).toBe('done');
    expect(held()).toEqual(before);

    // an absurd learning rate makes the loss non-finite in the first steps: the run throws, the trainer's
    // variables (query and key encoders, SGD momenta) must still be freed
    await expect(
      runTraining({ ...base, out: path.join(tmp, 'diverged') }, () => {}, { ...ctl, overrides: { lr: 1e30 } }),
    ).rejects.toThrow(/training diverged/);
    expect(held()).toEqual(before);
  }, 60_000);
});
