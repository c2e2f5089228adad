// decisions.json beside a run: written in full form, read back the same, absent means none, and a broken file
// is refused with its name and the expected shape (never read as "no decisions").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDecisionsFile, readRunDecisions, writeRunDecisions } from './run-decisions';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-run-decisions-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('run decisions side file', () => {
  it('writes both fields (creating the run folder) and reads them back', () => {
    const run = path.join(base, 'runs', 'r1');
    expect(readRunDecisions(run)).toBeNull();
    expect(writeRunDecisions(run, { excluded: ['a/x.png'] })).toEqual({ fixedLabels: {}, excluded: ['a/x.png'] });
    expect(JSON.parse(fs.readFileSync(path.join(run, 'decisions.json'), 'utf8'))).toEqual({
      fixedLabels: {},
      excluded: ['a/x.png'],
    });
    writeRunDecisions(run, { fixedLabels: { 'a/y.png': 'b' }, excluded: [] });
    expect(readRunDecisions(run)).toEqual({ fixedLabels: { 'a/y.png': 'b' }, excluded: [] });
  });

  it('fills a missing field of a user file', () => {
    const f = path.join(base, 'user.json');
    fs.writeFileSync(f, JSON.stringify({ fixedLabels: { 'a/1.png': 'c' } }));
    expect(readDecisionsFile(f)).toEqual({ fixedLabels: { 'a/1.png': 'c' }, excluded: [] });
  });

  it('refuses broken JSON and a wrong shape, naming the file and the expected shape', () => {
    const bad = path.join(base, 'bad.json');
    fs.writeFileSync(bad, '{"fixedLabels": ');
    expect(() => readDecisionsFile(bad)).toThrow(new RegExp(`^${bad}: .*expected JSON \\{"fixedLabels"`));
    const run = path.join(base, 'runs', 'r2');
    fs.mkdirSync(run, { recursive: true });
    fs.writeFileSync(path.join(run, 'decisions.json'), JSON.stringify({ excluded: 'a/x.png' }));
    expect(() => readRunDecisions(run)).toThrow(/decisions\.json: excluded: .*expected JSON/);
  });
});
