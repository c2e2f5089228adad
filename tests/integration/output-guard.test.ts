// The output guard (util/output-guard.ts) and the resume check (engine/train/dataset-identity.ts) as pure-ish
// functions: every refusal leaves the folder as it was; --force moves a run aside, never deletes it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkFileOutput,
  checkOutsideFolders,
  checkRunOutput,
  inspectRunFolder,
  OutputRefused,
  prepareRunOutput,
  realish,
  setAsideRun,
} from '../../src-main/util/output-guard';
import { datasetIdentity, datasetMismatch, recordedIdentity } from '../../src-main/engine/train/dataset-identity';

let tmp: string;
let ds: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-guard-'));
  ds = path.join(tmp, 'ds');
  fs.mkdirSync(path.join(ds, 'cat'), { recursive: true });
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const folders = () => [{ path: ds, what: 'dataset' }];
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OutputRefused);
    return (e as Error).message;
  }
  throw new Error('not refused');
};
const ourRun = (dir: string, state = 'done') => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'run.json'),
    JSON.stringify({ version: 1, state, dataset: ds, config: { epochs: 3 }, epochs: [{}] }),
  );
};

describe('outputs stay out of the dataset (real paths)', () => {
  it('refuses inside, through a symlink, and above; allows beside', () => {
    fs.symlinkSync(path.join(ds, 'cat'), path.join(tmp, 'link'));
    expect(realish(path.join(tmp, 'link', 'new', 'deeper'))).toBe(
      path.join(fs.realpathSync(ds), 'cat', 'new', 'deeper'),
    );
    expect(refusal(() => checkOutsideFolders(path.join(ds, 'cat', 'run'), folders()))).toMatch(/inside the dataset/);
    expect(refusal(() => checkOutsideFolders(path.join(tmp, 'link', 'run'), folders()))).toMatch(/inside the dataset/);
    expect(refusal(() => checkOutsideFolders(tmp, folders()))).toMatch(/contains the dataset/);
    expect(() => checkOutsideFolders(path.join(tmp, 'run'), folders())).not.toThrow();
  });
});

describe('run folders', () => {
  it('tells absent, empty, pending, our run, a file and a foreign folder apart', () => {
    const d = path.join(tmp, 'r');
    expect(inspectRunFolder(d).kind).toBe('absent');
    fs.mkdirSync(d);
    expect(inspectRunFolder(d).kind).toBe('empty');
    fs.writeFileSync(path.join(d, 'decisions.json'), '{}');
    expect(inspectRunFolder(d).kind).toBe('pending');
    ourRun(d, 'stopped');
    expect(inspectRunFolder(d)).toEqual({ kind: 'run', state: 'stopped', epochs: 1 });
    fs.writeFileSync(path.join(tmp, 'f'), 'x');
    expect(inspectRunFolder(path.join(tmp, 'f')).kind).toBe('file');
    fs.mkdirSync(path.join(tmp, 'x'));
    fs.writeFileSync(path.join(tmp, 'x', 'run.json'), '{"state":"done"}'); // not our shape
    expect(inspectRunFolder(path.join(tmp, 'x'))).toEqual({ kind: 'foreign', entries: 1 });
  });

  it('an existing run needs --resume or --force; a file or foreign folder is never replaced', () => {
    const run = path.join(tmp, 'run');
    ourRun(run);
    expect(refusal(() => checkRunOutput(run, { folders: folders() }))).toMatch(
      /already holds a finished run \(1 epoch\(s\)\): continue it with --resume, or start over with --force/,
    );
    expect(refusal(() => checkRunOutput(run, { folders: folders(), canResume: false }))).not.toMatch(/--resume/);
    ourRun(path.join(tmp, 'stopped'), 'stopped');
    expect(refusal(() => checkRunOutput(path.join(tmp, 'stopped'), { folders: folders() }))).toMatch(
      /already holds an unfinished run \(stopped, 1 epoch\(s\) done\): continue it with --resume/,
    );
    expect(checkRunOutput(run, { folders: folders(), resume: true }).kind).toBe('run');
    expect(refusal(() => checkRunOutput(run, { folders: folders(), resume: true, force: true }))).toMatch(/not both/);
    fs.writeFileSync(path.join(tmp, 'file'), 'mine');
    expect(refusal(() => checkRunOutput(path.join(tmp, 'file'), { folders: folders(), force: true }))).toMatch(
      /is a file/,
    );
    fs.mkdirSync(path.join(tmp, 'notes'));
    fs.writeFileSync(path.join(tmp, 'notes', 'a.txt'), 'mine');
    expect(refusal(() => prepareRunOutput(path.join(tmp, 'notes'), { folders: folders(), force: true }))).toMatch(
      /not a MoPro run folder/,
    );
    expect(fs.readFileSync(path.join(tmp, 'notes', 'a.txt'), 'utf8')).toBe('mine');
  });

  it('--force moves the old run aside to <run>.old-<time>, twice in the same second too', () => {
    const run = path.join(tmp, 'run');
    ourRun(run);
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(setAsideRun(run, at)).toBe(`${run}.old-20260102T030405Z`);
    ourRun(run);
    expect(setAsideRun(run, at)).toBe(`${run}.old-20260102T030405Z-2`);
    ourRun(run);
    const p = prepareRunOutput(run, { folders: folders(), force: true });
    expect(p.setAside).toMatch(/run\.old-\d{8}T\d{6}Z$/);
    expect(fs.existsSync(run)).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(p.setAside!, 'run.json'), 'utf8')).state).toBe('done');
  });
});

describe('single output files (predictions CSV)', () => {
  const header = 'path,predicted_label,confidence,ood_score';
  it('a new file, or one starting with our exact header; never a folder, a link, another file or another summary', () => {
    const f = path.join(tmp, 'p.csv');
    const o = {
      folders: folders(),
      header,
      sideFiles: [
        { path: `${f}.summary.json`, what: 'predictions summary', ours: (t: string) => t.includes('"predictions"') },
      ],
    };
    expect(() => checkFileOutput(f, o)).not.toThrow();
    fs.writeFileSync(f, `\uFEFF${header}\r\nx,y,1,0\r\n`);
    expect(() => checkFileOutput(f, o)).not.toThrow();
    fs.writeFileSync(f, `${header},extra\n`);
    expect(refusal(() => checkFileOutput(f, o))).toMatch(/was not written by MoPro Studio/);
    fs.writeFileSync(f, `${header}\n`);
    fs.writeFileSync(`${f}.summary.json`, '{}');
    expect(refusal(() => checkFileOutput(f, o))).toMatch(/summary\.json exists and is not a predictions summary/);
    fs.writeFileSync(`${f}.summary.json`, '{"predictions": "x"}');
    expect(() => checkFileOutput(f, o)).not.toThrow();
    fs.mkdirSync(path.join(tmp, 'out'));
    expect(refusal(() => checkFileOutput(path.join(tmp, 'out'), o))).toMatch(
      /is a folder: give a file name, e\.g\. .*predictions\.csv/,
    );
    fs.symlinkSync(f, path.join(tmp, 'l.csv'));
    expect(refusal(() => checkFileOutput(path.join(tmp, 'l.csv'), o))).toMatch(/symbolic link/);
    expect(refusal(() => checkFileOutput(path.join(ds, 'cat', 'p.csv'), o))).toMatch(/inside the dataset/);
  });
});

describe('--resume dataset check', () => {
  const s = (rel: string, classIndex: number, bytes = 10) => ({ rel, classIndex, bytes });
  it('same files: no complaint (even from a moved folder); other classes or changed files: one line naming both', () => {
    const a = datasetIdentity('/d/a', ['cat', 'dog'], [s('cat/1.png', 0), s('dog/1.png', 1)]);
    expect(
      datasetMismatch('/r', a, datasetIdentity('/moved/a', ['cat', 'dog'], [s('cat/1.png', 0), s('dog/1.png', 1)])),
    ).toBeNull();
    const cls = datasetMismatch('/r', a, datasetIdentity('/d/b', ['ant', 'bee', 'cow'], [s('ant/1.png', 0)]));
    expect(cls).toMatch(/trained on \/d\/a with classes \[cat, dog\]; \/d\/b has classes \[ant, bee, cow\]/);
    const grown = datasetMismatch(
      '/r',
      a,
      datasetIdentity('/d/a', ['cat', 'dog'], [s('cat/1.png', 0), s('cat/2.png', 0), s('dog/1.png', 1)]),
    );
    expect(grown).toMatch(/\(2 images, fingerprint [0-9a-f]{16}\); \/d\/a has 3 images/);
    expect(
      datasetMismatch('/r', a, datasetIdentity('/d/a', ['cat', 'dog'], [s('cat/1.png', 0, 11), s('dog/1.png', 1)])),
    ).toMatch(/changed/);
    for (const m of [cls, grown]) expect(m).not.toMatch(/\n/);
    // An older checkpoint without a record: only the class list (from run.json) is compared.
    expect(datasetMismatch('/r', { classes: ['cat', 'dog'] }, a)).toBeNull();
  });

  it('reads the record from the checkpoint, else run.json, and nothing without a checkpoint', () => {
    const run = path.join(tmp, 'run');
    ourRun(run);
    expect(recordedIdentity(run)).toBeNull(); // no checkpoint: nothing will be resumed
    fs.mkdirSync(path.join(run, 'checkpoint'));
    fs.writeFileSync(path.join(run, 'checkpoint', 'checkpoint.json'), JSON.stringify({ epoch: 1 }));
    fs.writeFileSync(
      path.join(run, 'run.json'),
      JSON.stringify({ dataset: ds, datasetSummary: { classes: ['x', 'y'] } }),
    );
    expect(recordedIdentity(run)).toEqual({ root: ds, classes: ['x', 'y'] });
    const id = datasetIdentity(ds, ['cat', 'dog'], [s('cat/1.png', 0)]);
    fs.writeFileSync(path.join(run, 'checkpoint', 'checkpoint.json'), JSON.stringify({ epoch: 1, dataset: id }));
    expect(recordedIdentity(run)).toEqual(id);
  });
});
