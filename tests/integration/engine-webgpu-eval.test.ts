// `mopro predict`, `retrain-classifier`, `probe` and a training run's final pass with --backend webgpu, as a
// user runs them: predict and train in the job process, cRT and the probe in the CLI, each on the WebGPU adapter
// (in CI lavapipe, a Vulkan CPU driver). predict's CSV, cRT's and the final pass's samples.csv must match
// wasm's. Without an adapter the tests are skipped with the reason.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBGPU_MISSING } from '../../src-main/engine/backends/test-backends';
import { PREDICTIONS_HEADER, SAMPLES_CSV, SAMPLES_HEADER } from '../../src-shared/run-format';
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
/** run a's samples.csv has run b's statuses and labels, confidences and ood_scores within 1e-4 */
function sameSamples(a: string, b: string) {
  const rows = (d: string) => parseCsv(fs.readFileSync(path.join(d, SAMPLES_CSV), 'utf8'), SAMPLES_HEADER);
  const x = rows(a),
    y = rows(b);
  expect(x).toHaveLength(24);
  expect(x.map((r) => [r.path, r.status, r.corrected_label])).toEqual(
    y.map((r) => [r.path, r.status, r.corrected_label]),
  );
  for (let i = 0; i < x.length; i++)
    for (const c of ['confidence', 'ood_score'] as const)
      expect(Math.abs(Number(x[i][c]) - Number(y[i][c]))).toBeLessThan(1e-4);
}

beforeAll(() => {
  if (WEBGPU_MISSING) return;
  for (const c of ['Bag', 'Sandal', 'Trouser']) {
    fs.mkdirSync(path.join(data, c), { recursive: true });
    for (const f of fs.readdirSync(path.join(sample, c)).sort().slice(0, 8))
      fs.copyFileSync(path.join(sample, c, f), path.join(data, c, f));
  }
  mopro('train', data, '--out', run, '--backend', 'wasm', '--epochs', '1', '--image-size', '8', '--batch-size', '12');
}, 120_000);

describe('final pass, predict, cRT and probe on webgpu (CLI)', () => {
  it.skipIf(WEBGPU_MISSING)(
    `train --resume --backend webgpu of a finished wasm run: the final pass and kNN there, wasm's samples.csv${skip}`,
    () => {
      // the last checkpoint is the final epoch: the resumed job runs the final pass alone, on the adapter
      const copy = path.join(tmp, 'run-gpu');
      fs.cpSync(run, copy, { recursive: true });
      const r = mopro('train', data, '--out', copy, '--resume', '--backend', 'webgpu');
      expect(r.stderr).toMatch(/^backend: webgpu /m);
      expect(r.stderr).toMatch(/the model writer on wasm: it reads tensors synchronously, which webgpu cannot/);
      expect(r.stderr).not.toMatch(/the final pass \(and the model writer\) on/);
      sameSamples(copy, run);
    },
    120_000,
  );

  it.skipIf(WEBGPU_MISSING)(
    `predict --backend webgpu: wasm's labels, confidences and ood_scores${skip}`,
    () => {
      const gpu = mopro('predict', run, data, '--out', path.join(tmp, 'gpu.csv'), '--backend', 'webgpu');
      expect(gpu.stderr).toMatch(/^backend: webgpu \(WebGPU \(Dawn\) on /m);
      mopro('predict', run, data, '--out', path.join(tmp, 'wasm.csv'), '--backend', 'wasm');
      const a = predictions(path.join(tmp, 'gpu.csv')),
        b = predictions(path.join(tmp, 'wasm.csv'));
      expect(a).toHaveLength(24);
      expect(a.map((r) => [r.path, r.predicted_label])).toEqual(b.map((r) => [r.path, r.predicted_label]));
      for (let i = 0; i < a.length; i++) {
        expect(Math.abs(Number(a[i].confidence) - Number(b[i].confidence))).toBeLessThan(1e-4);
        expect(Math.abs(Number(a[i].ood_score) - Number(b[i].ood_score))).toBeLessThan(1e-4);
      }
      // the neighbour search of ood_score ran on webgpu too: no switch to a sync backend logged
      expect(gpu.stderr).not.toMatch(/synchronously/);
    },
    120_000,
  );

  it.skipIf(WEBGPU_MISSING)(
    `retrain-classifier and probe --backend webgpu write their results, cRT wasm's samples.csv${skip}`,
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
      // the re-judge (features, kNN, ood_score) on webgpu gives wasm's samples.csv
      mopro('retrain-classifier', run, '--out', path.join(tmp, 'crt-wasm'), '--epochs', '2', '--backend', 'wasm');
      sameSamples(path.join(tmp, 'crt'), path.join(tmp, 'crt-wasm'));
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
