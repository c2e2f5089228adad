import { describe, expect, it } from 'vitest';
import { runDetails } from './run-details';

describe('runDetails', () => {
  it('reads balanced sampling, decisions, init, pretrain, cRT and calibration from run.json', () => {
    const d = runDetails({
      sampling: {
        mode: 'balanced',
        classes: ['a', 'b'],
        before: [90, 10],
        expectedPerEpoch: [50, 50],
        drawnFirstEpoch: [48, 52],
      },
      datasetSummary: { fixedLabels: 3, excluded: 2 },
      init: { run: '/runs/first' },
      pretrain: { grid: 2, epochs: 2, history: [{ accuracy: 0.4 }, { accuracy: 0.7 }] },
      crt: { from: '/runs/first', trainRows: 900 },
      evaluations: [{ folder: '/test', crops: 10, accuracy: 0.8, ece: 0.03 }, { bogus: true }],
    });
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
  it('an old or uniform run has nothing to show, and junk does not throw', () => {
    const empty = { sampling: null, decisions: null, init: null, pretrain: null, crt: null, calibration: [] };
    expect(
      runDetails({
        sampling: { mode: 'uniform', classes: ['a'], before: [1] },
        datasetSummary: { fixedLabels: 0, excluded: 0 },
      }),
    ).toEqual(empty);
    expect(runDetails(null)).toEqual(empty);
    expect(runDetails({ sampling: 'x', evaluations: 'y', pretrain: 3 })).toEqual(empty);
  });
});
