// What the Train panel says about how a run was made beyond its epochs: class-balanced sampling (per-class
// counts before and drawn), human decisions, --init, the permutation warm start, cRT, and calibration
// measured by `mopro predict` on labelled folders. Reads run.json defensively: older runs lack these keys.
export interface RunDetails {
  sampling: { mode: string; rows: { label: string; before: number; drawn: number | null }[] } | null;
  decisions: { fixed: number; excluded: number } | null;
  init: string | null;
  pretrain: { grid: number; epochs: number; lastAccuracy: number | null } | null;
  crt: { from: string; trainRows: number } | null;
  calibration: { folder: string; crops: number; accuracy: number; ece: number }[];
}

const obj = (v: unknown): Record<string, unknown> | null =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
const nums = (v: unknown): number[] | null =>
  Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : null;

export function runDetails(runJson: unknown): RunDetails {
  const j = obj(runJson) ?? {};
  const s = obj(j.sampling),
    ds = obj(j.datasetSummary);
  let sampling: RunDetails['sampling'] = null;
  const classes = Array.isArray(s?.classes) ? (s!.classes as string[]) : null,
    before = nums(s?.before),
    drawn = nums(s?.drawnFirstEpoch);
  if (s && s.mode === 'balanced' && classes && before) {
    sampling = {
      mode: 'balanced',
      rows: classes.map((label, k) => ({ label, before: before[k] ?? 0, drawn: drawn?.[k] ?? null })),
    };
  }
  const fixed = typeof ds?.fixedLabels === 'number' ? ds.fixedLabels : 0,
    excluded = typeof ds?.excluded === 'number' ? ds.excluded : 0;
  const pre = obj(j.pretrain),
    hist = Array.isArray(pre?.history) ? (pre!.history as { accuracy?: number }[]) : [];
  const crt = obj(j.crt);
  const evals = Array.isArray(j.evaluations)
    ? (j.evaluations as unknown[]).map(obj).filter((e): e is Record<string, unknown> => !!e)
    : [];
  return {
    sampling,
    decisions: fixed || excluded ? { fixed, excluded } : null,
    init: typeof obj(j.init)?.run === 'string' ? (obj(j.init)!.run as string) : null,
    pretrain: pre
      ? {
          grid: Number(pre.grid),
          epochs: Number(pre.epochs),
          lastAccuracy: typeof hist.at(-1)?.accuracy === 'number' ? hist.at(-1)!.accuracy! : null,
        }
      : null,
    crt: crt ? { from: String(crt.from), trainRows: Number(crt.trainRows) } : null,
    calibration: evals
      .filter((e) => typeof e.ece === 'number' && typeof e.accuracy === 'number')
      .map((e) => ({
        folder: String(e.folder ?? ''),
        crops: Number(e.crops ?? 1),
        accuracy: e.accuracy as number,
        ece: e.ece as number,
      })),
  };
}
