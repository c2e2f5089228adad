// `mopro train --backend webgpu` trains the bundled sample (1 epoch at 8 px) through the job process:
// every training step on the WebGPU adapter (in CI lavapipe, a Vulkan CPU driver), one read-back per
// step, and the run records the adapter; then a frozen-backbone run on top of it, unfrozen after one epoch,
// must follow the same run on wasm. Without an adapter the tests are skipped with the reason.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WEBGPU_MISSING } from '../../src-main/engine/backends/test-backends';
import { moproRunner, REPO } from '../fixtures/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-webgpu-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const mopro = moproRunner(
  { ...process.env, MOPRO_DATA_DIR: path.join(tmp, 'data'), MOPRO_CACHE_DIR: path.join(tmp, 'cache') },
  170_000,
);
const SAMPLE = path.join(REPO, 'resources', 'sample');
// 8 px, 10 steps per epoch: lavapipe emulates the GPU on the CPU
const SMALL = ['--image-size', '8', '--batch-size', '100', '--seed', '1'];

describe('training on webgpu', () => {
  it.skipIf(WEBGPU_MISSING)(
    `train --backend webgpu: the bundled sample, 1 epoch${WEBGPU_MISSING ? ` (skipped: ${WEBGPU_MISSING})` : ''}`,
    () => {
      const out = path.join(tmp, 'run');
      const r = mopro('train', SAMPLE, '--out', out, '--backend', 'webgpu', '--epochs', '1', ...SMALL);
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      expect(r.stderr).toMatch(/^backend: webgpu \(WebGPU \(Dawn\) on /m);
      const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
      expect(run.state).toBe('done');
      expect(run.backend).toMatchObject({
        name: 'webgpu',
        adapter: { description: expect.any(String), fallback: expect.any(Boolean) },
      });
      expect(run.epochs).toHaveLength(1);
      expect(Number.isFinite(run.epochs[0].loss)).toBe(true);
      expect(run.counts.clean + run.counts.relabeled + run.counts.ood).toBe(run.datasetSummary.images);
    },
    180_000,
  );

  it.skipIf(WEBGPU_MISSING)(
    `train --freeze-backbone --unfreeze-after 1 on webgpu follows the same run on wasm${WEBGPU_MISSING ? ` (skipped: ${WEBGPU_MISSING})` : ''}`,
    () => {
      const init = path.join(tmp, 'run');
      expect(fs.existsSync(path.join(init, 'run.json')), 'needs the first test run').toBe(true);
      const runs = ['webgpu', 'wasm'].map((backend) => {
        const out = path.join(tmp, `frozen-${backend}`);
        const r = mopro(
          'train',
          SAMPLE,
          '--out',
          out,
          '--init',
          init,
          '--freeze-backbone',
          '--unfreeze-after',
          '1',
          '--backend',
          backend,
          '--epochs',
          '2',
          ...SMALL,
        );
        expect(r.code, r.stderr.slice(-2000)).toBe(0);
        return JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
      });
      const [gpu, cpu] = runs;
      expect(gpu.backend.name).toBe('webgpu');
      expect(gpu.frozenBackbone).toMatchObject({ views: ['image', 'mirror'] });
      // epoch 1 trains the heads on the frozen features, epoch 2 the whole net after unfreezing
      expect(gpu.epochs).toHaveLength(2);
      // the heads on cached features agree to float rounding; the unfrozen epoch (whole net, BN, augmentation)
      // drifts by GPU summation order (measured 0.4%)
      expect(gpu.epochs[0].loss).toBeCloseTo(cpu.epochs[0].loss, 4);
      expect(Math.abs(gpu.epochs[1].loss / cpu.epochs[1].loss - 1)).toBeLessThan(0.03);
      expect(gpu.counts.clean + gpu.counts.relabeled + gpu.counts.ood).toBe(gpu.datasetSummary.images);
    },
    360_000,
  );
});
