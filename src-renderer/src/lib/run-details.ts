// What the Train panel says about how a run was made beyond its epochs: class-balanced sampling (per-class
// counts before and drawn), human decisions, --init, the permutation warm start, cRT, and calibration
// measured by `mopro predict` on labelled folders. The main process read run.json with the shared schema;
// older runs lack these sections, and a section that did not fit the schema reads as absent.
import type { RunJson } from '@shared/run-json';

export interface RunDetails {
  sampling: { mode: string; rows: { label: string; before: number; drawn: number | null }[] } | null;
  decisions: { fixed: number; excluded: number } | null;
  init: string | null;
  pretrain: { grid: number; epochs: number; lastAccuracy: number | null } | null;
  crt: { from: string; trainRows: number } | null;
  calibration: { folder: string; crops: number; accuracy: number; ece: number }[];
}

export function runDetails(j: RunJson | null): RunDetails {
  const s = j?.sampling;
  const sampling: RunDetails['sampling'] =
    s && s.mode === 'balanced'
      ? {
          mode: 'balanced',
          rows: s.classes.map((label, k) => ({
            label,
            before: s.before[k] ?? 0,
            drawn: s.drawnFirstEpoch?.[k] ?? null,
          })),
        }
      : null;
  const fixed = j?.datasetSummary.fixedLabels ?? 0,
    excluded = j?.datasetSummary.excluded ?? 0;
  const pre = j?.pretrain,
    crt = j?.crt;
  return {
    sampling,
    decisions: fixed || excluded ? { fixed, excluded } : null,
    init: j?.init?.run ?? null,
    pretrain: pre ? { grid: pre.grid, epochs: pre.epochs, lastAccuracy: pre.history.at(-1)?.accuracy ?? null } : null,
    crt: crt ? { from: crt.from, trainRows: crt.trainRows } : null,
    calibration: (j?.evaluations ?? []).flatMap((e) =>
      e ? [{ folder: e.folder, crops: e.crops, accuracy: e.accuracy, ece: e.ece }] : [],
    ),
  };
}
