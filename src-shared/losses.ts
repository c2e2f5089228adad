// The loss terms of a training step as data: one name list that the trainer reads back in, and one table that the
// CLI's epoch line, the run table and the loss chart iterate. A new term is a name and a row here, its tf op in
// engine/mopro/losses.ts and its place in the total in engine/train/trainer.ts.
import { z } from 'zod';

/** MoPro's loss terms (mopro.md §3), in the order every view lists them: cross-entropy, instance, prototype. */
export const LossName = z.enum(['ce', 'ins', 'pro']);
export type LossName = z.infer<typeof LossName>;

/** One value per loss term (a step's value, or an epoch's mean); a term a run does not use is 0, a diverged one NaN. */
export const Losses = z.record(LossName, z.union([z.number(), z.nan()]));
export type Losses = z.infer<typeof Losses>;

/** How each term is shown: the CLI prints the name, the chart's legend the label, the run table the label capitalised. */
export const LOSS_TERMS: Record<LossName, { label: string }> = {
  ce: { label: 'CE' },
  ins: { label: 'instance' },
  pro: { label: 'prototype' },
};

/** A loss record with `value(name)` for each term. */
export function mapLosses(value: (name: LossName) => number): Losses {
  return Object.fromEntries(LossName.options.map((n) => [n, value(n)])) as Losses;
}

export const zeroLosses = (): Losses => mapLosses(() => 0);

/**
 * An epoch record as stored in a run.json or a checkpoint, with the loss terms as one record. Runs written before
 * the record (by the engine or the PyTorch job) carry them as flat fields lossCe / lossIns / lossPro: those are lifted into
 * `losses` and dropped. A term neither shape has reads 0 (the run predates it); a null (NaN when written) reads NaN.
 */
export function withLossRecord(stored: object): { [field: string]: unknown; losses: Losses } {
  const src = stored as Record<string, unknown>;
  const rec = src.losses && typeof src.losses === 'object' ? (src.losses as Record<string, unknown>) : {};
  const out: Record<string, unknown> = { ...src };
  const losses = zeroLosses();
  for (const n of LossName.options) {
    const flat = `loss${n.charAt(0).toUpperCase()}${n.slice(1)}`;
    const v = n in rec ? rec[n] : src[flat];
    if (typeof v === 'number') losses[n] = v;
    else if (v === null) losses[n] = NaN;
    delete out[flat];
  }
  return { ...out, losses };
}
