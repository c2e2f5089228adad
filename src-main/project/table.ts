// The review grid's data as columns (typed arrays), one row per sample of the active run, so a
// filter or sort over 100k rows is a tight loop instead of 100k object allocations.
import type { DecisionAction, LabelSource, SampleRow, SampleStatus } from '../../src-shared/contract';

export const STATUS: readonly SampleStatus[] = ['clean', 'relabeled', 'ood'];
export const DKIND = { none: -1, accept: 0, keep: 1, override: 2, ood: 3, duplicate: 4 } as const;

export interface SampleTable {
  n: number;
  /** Label vocabulary; columns hold indices into it. */
  labels: string[];
  paths: string[];
  given: Int32Array;
  /** -1 when the model says OOD. */
  suggested: Int32Array;
  /** Index into STATUS. */
  status: Uint8Array;
  confidence: Float32Array;
  ood: Float32Array;
  /** 0 when the file is gone from disk since the run (hidden from the grid and export). */
  present: Uint8Array;
  /** Human decision per row, mirrored from the journal; dKind for fast filtering. */
  decision: (DecisionAction | null)[];
  dKind: Int8Array;
  /** Rows below this index carry the run's opinion; the rest (no run yet, files added since) only their folder label. */
  modelRows: number;
}

export interface TableInput {
  path: string;
  given: string;
  suggested: string | null;
  status: SampleStatus;
  confidence: number;
  oodScore: number;
}

export function buildTable(
  rows: readonly TableInput[],
  classes: readonly string[] = [],
  modelRows = rows.length,
): SampleTable {
  const n = rows.length;
  const labels = [...classes];
  const index = new Map(labels.map((l, i) => [l, i]));
  const idx = (l: string): number => {
    let i = index.get(l);
    if (i === undefined) {
      i = labels.length;
      labels.push(l);
      index.set(l, i);
    }
    return i;
  };
  const t: SampleTable = {
    n,
    labels,
    paths: new Array<string>(n),
    given: new Int32Array(n),
    suggested: new Int32Array(n),
    status: new Uint8Array(n),
    confidence: new Float32Array(n),
    ood: new Float32Array(n),
    present: new Uint8Array(n).fill(1),
    decision: new Array<DecisionAction | null>(n).fill(null),
    dKind: new Int8Array(n).fill(DKIND.none),
    modelRows: Math.min(n, Math.max(0, modelRows)),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    t.paths[i] = r.path;
    t.given[i] = idx(r.given);
    t.status[i] = STATUS.indexOf(r.status);
    t.suggested[i] = r.status === 'ood' || !r.suggested ? -1 : idx(r.suggested);
    t.confidence[i] = r.confidence;
    t.ood[i] = r.oodScore;
  }
  return t;
}

export function labelIndex(t: SampleTable, label: string): number {
  let i = t.labels.indexOf(label);
  if (i < 0) {
    i = t.labels.length;
    t.labels.push(label);
  }
  return i;
}

export function setDecision(t: SampleTable, row: number, d: DecisionAction | null): void {
  t.decision[row] = d && d.kind !== 'restore' ? d : null;
  t.dKind[row] = t.decision[row] ? DKIND[t.decision[row]!.kind as keyof typeof DKIND] : DKIND.none;
  if (d?.kind === 'override') labelIndex(t, d.label);
}

/** Human decisions win over the model. finalLabel null = OOD / excluded. */
export function finalOf(
  given: string,
  suggested: string | null,
  status: SampleStatus,
  d: DecisionAction | null,
  modelOpinion = true,
): { finalLabel: string | null; source: LabelSource } {
  if (!d || d.kind === 'restore') {
    // Without a model opinion the folder label stands, and must not be reported as the model's word.
    if (!modelOpinion) return { finalLabel: given, source: 'given' };
    return { finalLabel: status === 'ood' ? null : (suggested ?? given), source: 'model' };
  }
  switch (d.kind) {
    case 'accept':
      return status === 'ood'
        ? { finalLabel: null, source: 'ood' }
        : { finalLabel: suggested ?? given, source: 'accepted' };
    case 'keep':
      return { finalLabel: given, source: 'kept' };
    case 'override':
      return { finalLabel: d.label, source: 'overridden' };
    case 'ood':
      return { finalLabel: null, source: 'ood' };
    case 'duplicate':
      return { finalLabel: null, source: 'duplicate' };
  }
}

export function rowOf(t: SampleTable, i: number): SampleRow {
  const given = t.labels[t.given[i]];
  const suggested = t.suggested[i] < 0 ? null : t.labels[t.suggested[i]];
  const status = STATUS[t.status[i]];
  const decision = t.decision[i];
  return {
    id: i,
    path: t.paths[i],
    given,
    suggested,
    status,
    confidence: t.confidence[i],
    oodScore: t.ood[i],
    decision,
    ...finalOf(given, suggested, status, decision, i < t.modelRows),
  };
}
