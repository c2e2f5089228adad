import { describe, expect, it } from 'vitest';
import { RunJson, type RunJsonInput } from '@shared/run-json';
import { fixtureRunJson } from '../../../tests/fixtures/run-json';
import { runDetails } from './run-details';

/** run.json as the main process hands it over: written by a fixture the schema checks, read with the schema. */
const read = (extra: Partial<RunJsonInput>) =>
  RunJson.parse(fixtureRunJson({ dataset: '/data', out: '/runs/x', classes: ['a', 'b'] }, extra));

describe('runDetails', () => {
  it('reads balanced sampling, decisions, init, pretrain, cRT and calibration from run.json', () => {
    const base = read({});
    const d = runDetails(
      read({
        sampling: {
          mode: 'balanced',
          classes: ['a', 'b'],
          before: [90, 10],
          expectedPerEpoch: [50, 50],
          drawnFirstEpoch: [48, 52],
        },
        datasetSummary: { ...base.datasetSummary, fixedLabels: 3, excluded: 2 },
        init: { run: '/runs/first', copied: 41, skipped: [], classifier: 'copied (same classes)' },
        pretrain: {
          task: 'permutation',
          grid: 2,
          epochs: 2,
          seconds: 3,
          history: [
            { epoch: 0, loss: 1.2, accuracy: 0.4, seconds: 1 },
            { epoch: 1, loss: 0.9, accuracy: 0.7, seconds: 1 },
          ],
        },
        crt: { from: '/runs/first', trainRows: 900 },
        evaluations: [{ folder: '/test', crops: 10, accuracy: 0.8, ece: 0.03 }],
      }),
    );
    expect(d.sampling).toEqual({
      mode: 'balanced',
      rows: [
        { label: 'a', before: 90, drawn: 48 },
        { label: 'b', before: 10, drawn: 52 },
      ],
    });
    expect(d.decisions).toEqual({ fixed: 3, excluded: 2 });
    expect(d.init).toBe('/runs/first');
    expect(d.pretrain).toEqual({ grid: 2, epochs: 2, lastAccuracy: 0.7 });
    expect(d.crt).toEqual({ from: '/runs/first', trainRows: 900 });
    expect(d.calibration).toEqual([{ folder: '/test', crops: 10, accuracy: 0.8, ece: 0.03 }]);
  });
  it('an old or uniform run has nothing to show, and sections that do not fit read as absent', () => {
    const empty = { sampling: null, decisions: null, init: null, pretrain: null, crt: null, calibration: [] };
    expect(runDetails(read({ sampling: { mode: 'uniform', classes: ['a'], before: [1] } }))).toEqual(empty);
    expect(runDetails(null)).toEqual(empty);
    // junk in the displayed sections (a hand-edited file): the schema leaves them out, the rest of the run reads
    const junk = RunJson.parse({
      ...fixtureRunJson({ dataset: '/d', out: '/o', classes: ['a'] }),
      sampling: 'x',
      pretrain: 3,
    });
    expect(runDetails(junk)).toEqual(empty);
    // one evaluation that does not fit (the first `mopro predict` builds lacked folder and crops: defaults)
    const evals = RunJson.parse({
      ...fixtureRunJson({ dataset: '/d', out: '/o', classes: ['a'] }),
      evaluations: [{ accuracy: 0.8, ece: 0.03 }, { bogus: true }],
    });
    expect(runDetails(evals).calibration).toEqual([{ folder: '', crops: 1, accuracy: 0.8, ece: 0.03 }]);
  });
});
