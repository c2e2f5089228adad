// runSummary over run.json as each writer leaves it: the engine's shape (through the fixture, which the schema
// checks), an older unversioned file, a run left 'running', and a file that is not a run summary.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RUN_JSON } from '../../src-shared/run-format';
import { writeRun } from '../../tests/fixtures/project';
import { runClasses, runDatasetRoot, runSummary } from './runs';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-runs-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
const rows = [{ path: 'a/1.png', given: 'a', corrected: 'a', status: 'clean' as const, confidence: 1, ood: 0 }];
let n = 0;
const runDir = () => path.join(base, `run${n++}`);

describe('runSummary', () => {
  it('reads the engine-shaped run.json: method, epochs, backend, counts and suggestions', () => {
    const dir = writeRun(runDir(), '/data/x', ['a', 'b'], rows, {
      method: 'ce',
      config: { method: 'ce', epochs: 4 },
      createdAt: '2026-02-01T00:00:00.000Z',
      counts: { clean: 1, relabeled: 0, ood: 0 },
      statusRule: { name: 'official', oodThreshold: 0.7 },
      suggestions: { trusted: false, reason: 'too few images', advice: 'add more' },
    });
    expect(runSummary(dir, 'r')).toMatchObject({
      method: 'ce',
      state: 'done',
      createdAt: '2026-02-01T00:00:00.000Z',
      epochsDone: 0,
      epochsTotal: 4,
      backend: 'synthetic',
      counts: { clean: 1, relabeled: 0, ood: 0 },
      suggestions: {
        statusRule: 'official',
        trusted: false,
        reason: 'too few images',
        advice: 'add more',
        oodThreshold: 0.7,
      },
    });
    expect(runSummary(dir, 'r').error).toBeUndefined();
    expect(runDatasetRoot(dir)).toBe('/data/x');
    expect(runClasses(dir)).toEqual(['a', 'b']);
  });

  it("a 'running' left on disk reads as stopped (nobody trains it now); a live state wins", () => {
    const dir = writeRun(runDir(), '/data/x', ['a'], rows, { state: 'running' });
    expect(runSummary(dir, 'r').state).toBe('stopped');
    expect(runSummary(dir, 'r', { state: 'running' }).state).toBe('running');
  });

  it('an older unversioned run.json (a failed run, as the test fixtures once wrote it) reads through the migration', () => {
    const dir = runDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, RUN_JSON),
      JSON.stringify({
        config: { method: 'mopro', epochs: 3, dataset: '/data/old' },
        state: 'failed',
        error: 'out of memory',
        epochs: [],
        createdAt: '2026-01-03T00:00:00Z',
      }),
    );
    expect(runSummary(dir, 'r')).toMatchObject({
      method: 'mopro',
      state: 'failed',
      error: 'out of memory',
      epochsTotal: 3,
      createdAt: '2026-01-03T00:00:00Z',
      backend: null,
    });
    expect(runDatasetRoot(dir)).toBe('/data/old');
  });

  it('a run.json that is not a run summary: the run still lists, with the file and the problem as its error', () => {
    const dir = writeRun(runDir(), '/data/x', ['a'], rows);
    fs.writeFileSync(path.join(dir, RUN_JSON), JSON.stringify({ version: 1, state: 'done', hello: 'world' }));
    const s = runSummary(dir, 'r');
    expect(s.state).toBe('done'); // samples.csv is there
    expect(s.error).toMatch(new RegExp(`${RUN_JSON}: not a MoPro run summary \\(method: `));
    expect(runDatasetRoot(dir)).toBeNull();
  });
});
