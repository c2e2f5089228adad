// The engine extensions' CLI entries end to end on the bundled sample (16 px, short runs): training with review decisions
// made through the project journal (--use-decisions) or a file (--decisions), class-balanced sampling,
// retrain-classifier, probe, predict --crops with calibration recorded in the run summary; and their bad input.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { moproRunner } from '../fixtures/cli';
import { Project } from '../../src-main/project/project';
import { parseCsv } from '../../src-main/util/csv';
import { SAMPLES_HEADER } from '../../src-shared/run-format';

const root = path.resolve(import.meta.dirname, '..', '..');
const sample = path.join(root, 'resources', 'sample');
/** images in the bundled sample (one line each in its truth file) */
const SAMPLE_N = fs.readFileSync(`${sample}.truth.jsonl`, 'utf8').trim().split('\n').length;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-cli-ext-'));
const dataDir = path.join(tmp, 'data');
const env = { ...process.env, MOPRO_CACHE_DIR: path.join(tmp, 'cache'), MOPRO_DATA_DIR: dataDir };
const mopro = moproRunner(env, 600_000);
const base = ['--epochs', '2', '--batch-size', '32', '--image-size', '16', '--backend', 'wasm', '--seed', '1'];
const run = path.join(tmp, 'run');

beforeAll(() => {
  const r = mopro('train', sample, '--out', run, ...base);
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

describe('train with decisions and sampling', () => {
  it('--use-decisions takes the decisions made in the app (project journal) and keeps them beside the run', async () => {
    const p = await Project.open(sample, dataDir);
    const ids = [0, 1, 2].map((i) => i);
    const paths = ids.map((i) => p.pathOf(i));
    p.apply([ids[0], ids[1]], { kind: 'override', label: 'Bag' });
    p.apply([ids[2]], { kind: 'ood' });
    p.close();
    const out = path.join(tmp, 'run-dec');
    const r = mopro('train', sample, '--out', out, '--use-decisions', ...base, '--sampling', 'balanced');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/decisions: 2 confirmed label\(s\) fixed, 1 image\(s\) excluded/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'decisions.json'), 'utf8'))).toEqual({
      fixedLabels: { [paths[0]]: 'Bag', [paths[1]]: 'Bag' },
      excluded: [paths[2]],
    });
    const rj = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(rj.datasetSummary.fixedLabels).toBe(2);
    expect(rj.sampling.mode).toBe('balanced');
    expect(rj.sampling.drawnFirstEpoch.reduce((a: number, b: number) => a + b, 0)).toBe(rj.datasetSummary.used);
    const rows = parseCsv(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8'), SAMPLES_HEADER);
    const byPath = new Map(rows.map((x) => [x.path, x]));
    // fixed labels are never relabelled; the excluded image is reported OOD
    expect(byPath.get(paths[0])!.corrected_label).toBe('Bag');
    expect(byPath.get(paths[1])!.corrected_label).toBe('Bag');
    // samples.csv's contract: a confirmed label that differs from the folder's is 'relabeled'
    for (const p of [paths[0], paths[1]])
      expect(byPath.get(p)!.status).toBe(byPath.get(p)!.given_label === 'Bag' ? 'clean' : 'relabeled');
    for (const x of rows)
      if (x.status !== 'ood') expect(x.status).toBe(x.corrected_label === x.given_label ? 'clean' : 'relabeled');
    expect(byPath.get(paths[2])!.status).toBe('ood');
  }, 300_000);

  it('--decisions with a broken file exits 1 naming it; both flags at once exit 2', () => {
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{ not json');
    const r = mopro('train', sample, '--out', path.join(tmp, 'r-bad'), '--decisions', bad, ...base);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(bad);
    expect(
      mopro('train', sample, '--out', path.join(tmp, 'r-both'), '--decisions', bad, '--use-decisions', ...base).code,
    ).toBe(2);
    expect(mopro('train', sample, '--out', path.join(tmp, 'r-s'), '--sampling', 'weird').code).toBe(2);
  });
});

describe('post-training commands', () => {
  it('retrain-classifier writes <run>-crt; a folder that is no run exits 1 naming it', () => {
    const r = mopro('retrain-classifier', run, '--epochs', '2', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/classifier re-trained on \d+ cleaned samples/);
    expect(fs.existsSync(path.join(`${run}-crt`, 'model', 'model.json'))).toBe(true);
    const bad = mopro('retrain-classifier', tmp);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(path.join(tmp, 'run.json'));
  }, 300_000);

  it('probe prints k-shot accuracies; bad --shots exits 2', () => {
    const out = path.join(tmp, 'probe.json');
    const r = mopro('probe', run, sample, '--shots', '1,2', '--out', out, '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1-shot: \d+\.\d% \+- /);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).results).toHaveLength(2);
    expect(mopro('probe', run, sample, '--shots', '0').code).toBe(2);
  }, 300_000);

  it('predict --crops 10 on a labelled folder reports top-1 and ECE and records them in run.json; --crops 7 exits 2', () => {
    const out = path.join(tmp, 'pred10.csv');
    const r = mopro('predict', run, sample, '--out', out, '--crops', '10', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/top-1 \d+\.\d+%, ECE \(15 bins\)/);
    const s = JSON.parse(fs.readFileSync(`${out}.summary.json`, 'utf8'));
    expect(s.crops).toBe(10);
    const ev = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')).evaluations;
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ folder: sample, crops: 10, images: SAMPLE_N });
    expect(mopro('predict', run, sample, '--out', out, '--crops', '7').code).toBe(2);
  }, 300_000);
});
