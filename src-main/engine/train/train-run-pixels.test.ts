// Pixels read from the on-disk cache per batch train exactly as pixels held in memory: the same losses step
// by step and the same samples.csv and arrays, on the bundled sample with the same seed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { runTraining } from './train-run';
import type { EngineEvent } from '../types';
import { Q_F32, SAMPLES_CSV } from '../../../src-shared/run-format';

const sample = path.resolve(__dirname, '../../../resources/sample');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-pixels-'));
const cacheDir = path.join(tmp, 'cache');

async function run(mode: 'memory' | 'stream') {
  const out = path.join(tmp, mode);
  const events: EngineEvent[] = [];
  const r = await runTraining(
    { dataset: sample, out, method: 'mopro', epochs: 1, batchSize: 32, backend: 'wasm', seed: 3, cacheDir },
    (e) => events.push(e),
    { shouldStop: () => false, maxSteps: 2, pixelsInMemoryMax: mode === 'stream' ? 0 : Infinity },
  );
  expect(r.state).toBe('done');
  return {
    losses: events.flatMap((e) => (e.type === 'step' ? [e.loss] : [])),
    streamed: events.some((e) => e.type === 'log' && /pixels read from the on-disk cache/.test(e.message)),
    csv: fs.readFileSync(path.join(out, SAMPLES_CSV), 'utf8'),
    q: fs.readFileSync(path.join(out, Q_F32)),
  };
}

describe('training on streamed pixels', () => {
  it('gives the losses and samples.csv of in-memory pixels, bit for bit', async () => {
    const t0 = tf.memory().numTensors;
    const mem = await run('memory');
    expect(tf.memory().numTensors).toBe(t0);
    const disk = await run('stream');
    // a whole in-thread run leaves no tensor behind either way
    expect(tf.memory().numTensors).toBe(t0);
    expect(mem.streamed).toBe(false);
    expect(disk.streamed).toBe(true);
    expect(mem.losses).toHaveLength(2);
    expect(disk.losses).toEqual(mem.losses);
    expect(disk.csv).toBe(mem.csv);
    expect(disk.q.equals(mem.q)).toBe(true);
    fs.rmSync(tmp, { recursive: true, force: true });
  }, 120_000);
});
