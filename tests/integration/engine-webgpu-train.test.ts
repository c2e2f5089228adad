// `mopro train --backend webgpu` trains the bundled sample (1 epoch at 8 px) through the job process:
// every training step on the WebGPU adapter (in CI lavapipe, a Vulkan CPU driver), one read-back per
// step, and the run records the adapter; then a frozen-backbone run on top of it, unfrozen after one epoch,
// must follow the same run on wasm; and `--pretrain permutation` pre-trains there (one read-back per step)
// as it does on wasm. Without an adapter the tests are skipped with the reason.
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

  it.skipIf(WEBGPU_MISSING)(
    `train --pretrain permutation --pretrain-epochs 1 on webgpu: pre-trains there, wasm's pre-training loss${WEBGPU_MISSING ? ` (skipped: ${WEBGPU_MISSING})` : ''}`,
    () => {
      // 4 classes x 25 images of the sample (small data: the config adapts the batch to 16, 6 steps an epoch)
      const data = path.join(tmp, 'pretrain-data');
      for (const c of ['Bag', 'Coat', 'Sandal', 'Trouser']) {
        fs.mkdirSync(path.join(data, c), { recursive: true });
        for (const f of fs.readdirSync(path.join(SAMPLE, c)).sort().slice(0, 25))
          fs.copyFileSync(path.join(SAMPLE, c, f), path.join(data, c, f));
      }
      const runs = ['webgpu', 'wasm'].map((backend) => {
        const out = path.join(tmp, `pretrain-${backend}`);
        const r = mopro(
          'train',
          data,
          '--out',
          out,
          '--backend',
          backend,
          '--pretrain',
          'permutation',
          '--pretrain-epochs',
          '1',
          '--epochs',
          '1',
          '--image-size',
          '8',
          '--batch-size',
          '25',
          '--seed',
          '1',
        );
        expect(r.code, r.stderr.slice(-2000)).toBe(0);
        return { run: JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')), stderr: r.stderr };
      });
      const [gpu, cpu] = runs;
      expect(gpu.stderr).toMatch(/^backend: webgpu \(WebGPU \(Dawn\) on /m);
      expect(gpu.stderr).toMatch(/^pretrain epoch 1: loss [\d.]+ tile accuracy/m);
      expect(gpu.run.state).toBe('done');
      expect(gpu.run.backend).toMatchObject({ name: 'webgpu', adapter: { description: expect.any(String) } });
      expect(gpu.run.pretrain).toMatchObject({ task: 'permutation', grid: 2, epochs: 1 });
      expect(gpu.run.pretrain.history).toHaveLength(1);
      const [g, w] = [gpu.run.pretrain.history[0], cpu.run.pretrain.history[0]];
      expect(g.epoch).toBe(0);
      expect(Number.isFinite(g.loss)).toBe(true);
      expect(g.accuracy).toBeGreaterThanOrEqual(0);
      expect(g.accuracy).toBeLessThanOrEqual(1);
      // the same steps on the same tiles: wasm's mean loss to float rounding (GPU summation order; measured 2e-8)
      expect(cpu.run.backend.name).toBe('wasm');
      expect(Math.abs(g.loss - w.loss)).toBeLessThan(1e-4);
      expect(Math.abs(g.accuracy - w.accuracy)).toBeLessThanOrEqual(0.02);
      expect(gpu.run.epochs).toHaveLength(1);
      expect(gpu.run.counts.clean + gpu.run.counts.relabeled + gpu.run.counts.ood).toBe(100);
    },
    120_000,
  );
});
