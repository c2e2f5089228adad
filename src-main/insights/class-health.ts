// Per-class numbers and the given -> corrected confusion matrix, from a run's per-sample columns.
// Pure: the caller passes label indices (see project/table.ts), so this runs on 100k rows in a
// few milliseconds and is easy to check by hand.
import type { ClassDelta, ClassHealth, ClassHealthRow } from './types';

export type { ClassDelta, ClassHealth, ClassHealthRow, Confusion } from './types';

export interface HealthInput {
  labels: readonly string[]; //  vocabulary the index columns point into
  classes: readonly string[]; // rows of the table, in display order (labels not listed are appended)
  given: ArrayLike<number>;
  /** -1 = OOD (no corrected label). */
  corrected: ArrayLike<number>;
  /** 0 clean, 1 relabeled, 2 ood (project/table.ts STATUS order). */
  status: ArrayLike<number>;
  confidence: ArrayLike<number>;
  /** Rows to count (e.g. files still on disk); default every row. */
  include?: ArrayLike<number>;
}

const STATUS_RELABELED = 1;
const STATUS_OOD = 2;

export function classHealth(h: HealthInput): ClassHealth {
  // Display order: the run's classes first, then any other label that occurs.
  const order: number[] = [];
  const pos = new Map<number, number>();
  const add = (li: number): number => {
    let p = pos.get(li);
    if (p === undefined) {
      p = order.length;
      order.push(li);
      pos.set(li, p);
    }
    return p;
  };
  for (const c of h.classes) {
    const li = h.labels.indexOf(c);
    if (li >= 0) add(li);
  }
  const n = h.given.length;
  const count: number[] = [],
    rel: number[] = [],
    ood: number[] = [],
    conf: number[] = [];
  const cells = new Map<number, Map<number, number>>(); // given pos -> corrected label idx (-1 OOD) -> count
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (h.include && !h.include[i]) continue;
    const g = add(h.given[i]);
    while (count.length < order.length) {
      count.push(0);
      rel.push(0);
      ood.push(0);
      conf.push(0);
    }
    total++;
    count[g]++;
    if (h.status[i] === STATUS_RELABELED) rel[g]++;
    if (h.status[i] === STATUS_OOD) ood[g]++;
    conf[g] += h.confidence[i];
    const c = h.status[i] === STATUS_OOD ? -1 : h.corrected[i];
    let row = cells.get(g);
    if (!row) cells.set(g, (row = new Map()));
    row.set(c, (row.get(c) ?? 0) + 1);
  }
  // Corrected labels may include labels never given (overrides); make them columns too.
  for (const row of cells.values()) for (const c of row.keys()) if (c >= 0) add(c);
  while (count.length < order.length) {
    count.push(0);
    rel.push(0);
    ood.push(0);
    conf.push(0);
  }
  const classes: ClassHealthRow[] = order.map((li, p) => ({
    label: h.labels[li],
    count: count[p],
    relabeled: rel[p],
    ood: ood[p],
    noiseRate: count[p] ? rel[p] / count[p] : 0,
    oodRate: count[p] ? ood[p] / count[p] : 0,
    meanConfidence: count[p] ? conf[p] / count[p] : 0,
  }));
  const colIdx = [...order, -1];
  const counts = order.map((_, p) => colIdx.map((c) => cells.get(p)?.get(c) ?? 0));
  return {
    classes,
    confusion: { rows: order.map((li) => h.labels[li]), cols: colIdx.map((c) => (c < 0 ? null : h.labels[c])), counts },
    total,
  };
}

/** Change in each class's numbers from run A to run B (a class missing in one run counts as zeros). */
export function classDeltas(a: readonly ClassHealthRow[], b: readonly ClassHealthRow[]): ClassDelta[] {
  const byB = new Map(b.map((r) => [r.label, r]));
  const labels = [...a.map((r) => r.label), ...b.map((r) => r.label).filter((l) => !a.some((r) => r.label === l))];
  const byA = new Map(a.map((r) => [r.label, r]));
  return labels.map((label) => {
    const ra = byA.get(label) ?? null,
      rb = byB.get(label) ?? null;
    return {
      label,
      a: ra,
      b: rb,
      dNoiseRate: (rb?.noiseRate ?? 0) - (ra?.noiseRate ?? 0),
      dOodRate: (rb?.oodRate ?? 0) - (ra?.oodRate ?? 0),
      dMeanConfidence: (rb?.meanConfidence ?? 0) - (ra?.meanConfidence ?? 0),
    };
  });
}
