// The loss record: one name list, one display table, and the reader's lift of the older flat fields.
import { describe, expect, it } from 'vitest';
import { LOSS_TERMS, LossName, Losses, mapLosses, withLossRecord, zeroLosses } from './losses';

describe('loss terms as data', () => {
  it('the display table has exactly one row per loss name', () => {
    expect(Object.keys(LOSS_TERMS).sort()).toEqual([...LossName.options].sort());
    expect(mapLosses((n) => n.length)).toEqual({ ce: 2, ins: 3, pro: 3 });
    expect(zeroLosses()).toEqual({ ce: 0, ins: 0, pro: 0 });
  });

  it('the record schema takes every term, a diverged one as NaN, and refuses a missing or unknown one', () => {
    expect(Losses.safeParse({ ce: 1, ins: NaN, pro: 0 }).success).toBe(true);
    expect(Losses.safeParse({ ce: 1, ins: 2 }).success).toBe(false);
    expect(Losses.safeParse({ ce: 1, ins: 2, pro: 3, extra: 4 }).success).toBe(false);
  });

  it('an epoch written with flat fields reads as a record; the flat fields go, the others stay', () => {
    const old = { epoch: 2, loss: 1.5, lossCe: 1, lossIns: 3, lossPro: 0.5, relabeled: 4, ood: 1, lr: 0.1 };
    expect(withLossRecord(old)).toEqual({
      epoch: 2,
      loss: 1.5,
      losses: { ce: 1, ins: 3, pro: 0.5 },
      relabeled: 4,
      ood: 1,
      lr: 0.1,
    });
    expect(old.lossCe).toBe(1); // the stored object itself is left alone
  });

  it('an epoch with the record reads unchanged; a term it lacks reads 0 and a null (NaN when written) NaN', () => {
    const now = { epoch: 0, loss: 2, losses: { ce: 1, ins: 2, pro: 3 } };
    expect(withLossRecord(now)).toEqual(now);
    const r = withLossRecord({ epoch: 0, loss: null, losses: { ce: 1, ins: null } });
    expect(r.losses).toEqual({ ce: 1, ins: NaN, pro: 0 });
    expect(r.loss).toBeNull(); // the total is the run.json schema's to read
  });
});
