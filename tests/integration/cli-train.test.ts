// The CLI end to end on a small generated noisy folder: train a few epochs, predict, score with
// the shared evaluator, and check the method really cleans labels. Also every bad-input path of
// the CLI contract (exit code 2 for usage, 1 for failure, one-line reason naming the path).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { moproRunner } from '../fixtures/cli';
import { parseCsv } from '../../src-main/util/csv';
import { SAMPLES_HEADER, PREDICTIONS_HEADER } from '../../src-shared/run-format';
import { LossName } from '../../src-shared/losses';

const root = path.resolve(import.meta.dirname, '..', '..');
const shared = path.resolve(root, '..', 'shared');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-cli-'));
const env = { ...process.env, MOPRO_CACHE_DIR: path.join(tmp, 'cache'), MOPRO_DATA_DIR: path.join(tmp, 'data') };

const mopro = moproRunner(env, 900_000);

const noisy = path.join(tmp, 'noisy');
const testDir = path.join(tmp, 'test');

beforeAll(() => {
  const r = spawnSync(
    process.execPath,
    [
      path.join(shared, 'bench', 'make-noisy-folder.mjs'),
      '--out',
      noisy,
      '--n',
      '800',
      '--noise',
      '0.4',
      '--ood',
      '0.1',
      '--test-out',
      testDir,
      '--test-n',
      '300',
      '--seed',
      '3',
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
});

describe('mopro train / predict on a generated noisy folder', () => {
  const run = path.join(tmp, 'run');
  it('trains, writes the run folder, and the cleaned labels beat the given ones', () => {
    // 6 epochs of 800 images is below what the default status rule trusts (it then suggests almost nothing and
    // says so in run.json): the official rule shows what the training itself learnt
    const r = mopro('train', noisy, '--out', run, '--epochs', '6', '--seed', '1', '--status-rule', 'official');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/backend: (wasm|tensorflow|cpu)/);
    const text = fs.readFileSync(path.join(run, 'samples.csv'), 'utf8');
    expect(text.split('\n')[0]).toBe(SAMPLES_HEADER.join(','));
    const rows = parseCsv(text, SAMPLES_HEADER);
    expect(rows.length).toBe(800);
    const runJson = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
    expect(runJson.epochs.length).toBe(6);
    // each epoch's loss terms as one record, printed in the same order on the epoch line
    for (const e of runJson.epochs) expect(Object.keys(e.losses)).toEqual([...LossName.options]);
    const last = runJson.epochs[5].losses;
    expect(r.stderr).toContain(
      `epoch 6: loss ${runJson.epochs[5].loss.toFixed(4)} (ce ${last.ce.toFixed(3)} ins ${last.ins.toFixed(3)} pro ${last.pro.toFixed(3)})`,
    );
    expect(runJson.statusRule.name).toBe('official');
    expect(typeof runJson.suggestions.trusted).toBe('boolean');
    expect(JSON.stringify(runJson.backend)).toMatch(/wasm|tensorflow|cpu/);
    expect(fs.existsSync(path.join(run, 'model'))).toBe(true);

    const ev = spawnSync(
      process.execPath,
      [
        path.join(shared, 'bench', 'evaluate.mjs'),
        '--truth',
        `${noisy}.truth.jsonl`,
        '--samples',
        path.join(run, 'samples.csv'),
        '--json',
      ],
      { encoding: 'utf8' },
    );
    expect(ev.status, ev.stderr).toBe(0);
    const m = JSON.parse(ev.stdout);
    console.log(
      `integration (800 images, 40% noise, 10% OOD, 6 epochs): given ${m.given_label_acc.toFixed(3)} -> cleaned ${m.cleaned_label_acc.toFixed(3)}, noise F1 ${m.noise.f1.toFixed(3)}, OOD AUROC ${m.ood.auroc.toFixed(3)}`,
    );
    expect(m.coverage).toBe(1);
    expect(m.cleaned_label_acc).toBeGreaterThan(m.given_label_acc + 0.05);
    expect(m.ood.auroc).toBeGreaterThan(0.6);
  });

  it('predicts a folder recursively', () => {
    const out = path.join(tmp, 'pred.csv');
    const r = mopro('predict', run, testDir, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const text = fs.readFileSync(out, 'utf8');
    expect(text.split('\n')[0]).toBe(PREDICTIONS_HEADER.join(','));
    const rows = parseCsv(text, PREDICTIONS_HEADER);
    expect(rows.length).toBe(300);
    const top1 = rows.filter((p) => p.path.split('/')[0] === p.predicted_label).length / rows.length;
    expect(top1).toBeGreaterThan(0.3); // 10 classes: chance is 0.1
  });
});

describe('CLI bad input', () => {
  it('bad usage exits 2 with a one-line reason', () => {
    const r = mopro('train', noisy);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(mopro('frobnicate').code).toBe(2);
    expect(mopro('train', noisy, '--out', path.join(tmp, 'x'), '--epochs', 'zero').code).toBe(2);
  });
  it('a bad option value exits 2 with one line naming the flag, the value and what it takes', () => {
    const cases: [string, string, RegExp][] = [
      ['--epochs', 'zero', /--epochs must be an integer >= 1/],
      ['--image-size', '600', /--image-size must be at most 512/],
      ['--status-rule', 'strict', /Allowed choices are best, official/],
    ];
    for (const [flag, value, want] of cases) {
      const r = mopro('train', noisy, '--out', path.join(tmp, 'x'), flag, value);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`'${flag} <`);
      expect(lines[0]).toContain(`'${value}'`);
      expect(lines[0]).toMatch(want);
    }
    expect(fs.existsSync(path.join(tmp, 'x'))).toBe(false);
  });
  it('missing dataset path exits 1 naming the path', () => {
    const missing = path.join(tmp, 'does-not-exist');
    const r = mopro('train', missing, '--out', path.join(tmp, 'r1'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(missing);
  });
  it('a file instead of a folder exits 1 naming it', () => {
    const file = path.join(tmp, 'file.txt');
    fs.writeFileSync(file, 'x');
    const r = mopro('train', file, '--out', path.join(tmp, 'r2'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(file);
  });
  it('one class only exits 1', () => {
    const one = path.join(tmp, 'one');
    fs.mkdirSync(path.join(one, 'cats'), { recursive: true });
    fs.copyFileSync(
      path.join(noisy, fs.readdirSync(noisy)[0], fs.readdirSync(path.join(noisy, fs.readdirSync(noisy)[0]))[0]),
      path.join(one, 'cats', 'a.png'),
    );
    const r = mopro('train', one, '--out', path.join(tmp, 'r3'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/class/i);
  });
  it('an output folder that cannot be written exits 1 naming it', () => {
    const blocker = path.join(tmp, 'blocker');
    fs.writeFileSync(blocker, 'a file where a folder should be');
    const r = mopro('train', noisy, '--out', path.join(blocker, 'run'), '--epochs', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(blocker);
  });
});
