// `mopro predict`, `retrain-classifier` and `probe` with --backend webgpu, as a user runs them: predict in
// the job process, cRT and the probe in the CLI, each on the WebGPU adapter (in CI lavapipe, a Vulkan CPU
// driver). predict's CSV must match wasm's. Without an adapter the tests are skipped with the reason.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBGPU_MISSING } from '../../src-main/engine/backends/test-backends';
import { PREDICTIONS_HEADER } from '../../src-shared/run-format';
import { parseCsv } from '../../src-main/util/csv';

const repo = path.resolve(import.meta.dirname, '../..');
const sample = path.join(repo, 'resources', 'sample');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-webgpu-eval-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const data = path.join(tmp, 'data'),
  run = path.join(tmp, 'run');
const skip = WEBGPU_MISSING ? ` (skipped: ${WEBGPU_MISSING})` : '';

function mopro(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'mopro.mjs'), ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, MOPRO_DATA_DIR: path.join(tmp, 'home'), MOPRO_CACHE_DIR: path.join(tmp, 'cache') },
    timeout: 100_000,
  });
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  return r;
}
const predictions = (f: string) => parseCsv(fs.readFileSync(f, 'utf8'), PREDICTIONS_HEADER, f);

beforeAll(() => {
  if (WEBGPU_MISSING) return;
  for (const c of ['Bag', 'Sandal', 'Trouser']) {
    fs.mkdirSync(path.join(data, c), { recursive: true });
    for (const f of fs.readdirSync(path.join(sample, c)).sort().slice(0, 8))
      fs.copyFileSync(path.join(sample, c, f), path.join(data, c, f));
  }
  mopro('train', data, '--out', run, '--backend', 'wasm', '--epochs', '1', '--image-size', '8', '--batch-size', '12');
}, 120_000);

describe('predict, cRT and probe on webgpu (CLI)', () => {
  it.skipIf(WEBGPU_MISSING)(
    `predict --backend webgpu: wasm's labels and confidences${skip}`,
    () => {
      const gpu = mopro('predict', run, data, '--out', path.join(tmp, 'gpu.csv'), '--backend', 'webgpu');
      expect(gpu.stderr).toMatch(/^backend: webgpu \(WebGPU \(Dawn\) on /m);
      mopro('predict', run, data, '--out', path.join(tmp, 'wasm.csv'), '--backend', 'wasm');
      const a = predictions(path.join(tmp, 'gpu.csv')),
        b = predictions(path.join(tmp, 'wasm.csv'));
      expect(a).toHaveLength(24);
      expect(a.map((r) => [r.path, r.predicted_label])).toEqual(b.map((r) => [r.path, r.predicted_label]));
      for (let i = 0; i < a.length; i++)
        expect(Math.abs(Number(a[i].confidence) - Number(b[i].confidence))).toBeLessThan(1e-4);
    },
    120_000,
  );

  it.skipIf(WEBGPU_MISSING)(
    `retrain-classifier and probe --backend webgpu write their results${skip}`,
    () => {
      const crt = mopro(
        'retrain-classifier',
        run,
        '--out',
        path.join(tmp, 'crt'),
        '--epochs',
        '2',
        '--backend',
        'webgpu',
      );
      expect(crt.stderr).toMatch(/^backend: webgpu /m);
      const rj = JSON.parse(fs.readFileSync(path.join(tmp, 'crt', 'run.json'), 'utf8'));
      expect(rj.state).toBe('done');
      expect(rj.crt.losses).toHaveLength(2);
      const out = path.join(tmp, 'probe.json');
      const probe = mopro('probe', run, data, '--shots', '2', '--draws', '1', '--out', out, '--backend', 'webgpu');
      expect(probe.stderr).toMatch(/^backend: webgpu /m);
      const r = JSON.parse(fs.readFileSync(out, 'utf8'));
      expect(r.results[0].accuracies).toHaveLength(1);
      expect(r.results[0].accuracies[0]).toBeGreaterThanOrEqual(0);
    },
    120_000,
  );
});
