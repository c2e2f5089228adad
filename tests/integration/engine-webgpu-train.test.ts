// `mopro train --backend webgpu` trains the bundled sample (1 epoch at 8 px) through the job process:
// every training step on the WebGPU adapter (in CI lavapipe, a Vulkan CPU driver), one read-back per
// step, and the run records the adapter. Without an adapter the test is skipped with the reason.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WEBGPU_MISSING } from '../../src-main/engine/backends/test-backends';

const repo = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-webgpu-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('training on webgpu', () => {
  it.skipIf(WEBGPU_MISSING)(
    `train --backend webgpu: the bundled sample, 1 epoch${WEBGPU_MISSING ? ` (skipped: ${WEBGPU_MISSING})` : ''}`,
    () => {
      const out = path.join(tmp, 'run');
      const r = spawnSync(
        process.execPath,
        [
          path.join(repo, 'bin', 'mopro.mjs'),
          'train',
          path.join(repo, 'resources', 'sample'),
          '--out',
          out,
          '--backend',
          'webgpu',
          '--epochs',
          '1',
          '--image-size',
          '8',
          '--batch-size',
          '100',
          '--seed',
          '1',
        ],
        {
          cwd: repo,
          encoding: 'utf8',
          env: { ...process.env, MOPRO_DATA_DIR: path.join(tmp, 'data'), MOPRO_CACHE_DIR: path.join(tmp, 'cache') },
          timeout: 170_000,
        },
      );
      expect(r.status, r.stderr.slice(-2000)).toBe(0);
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
});
