// What a review-grid filter lets through, written once: the project's query engine runs it over its
// columns and the renderer's in-memory test API over its rows, so the two cannot drift apart.
import type { SampleFilter, SampleRow, SampleStatus } from './contract';

/** The fields of a row that a filter looks at, as a plain object (a SampleRow is one). */
export type FilterableRow = Pick<
  SampleRow,
  'id' | 'path' | 'given' | 'suggested' | 'status' | 'confidence' | 'oodScore' | 'decision'
>;

/**
 * How to read those fields from a row of any shape: the query engine's rows are indices into typed
 * columns, and building an object per row would cost more than the filtering. A field is read only
 * when an active part of the filter needs it.
 */
export interface FilterFields<R> {
  id(r: R): number;
  /** The path lowercased (search is case-insensitive); a caller that keeps a lowercased copy returns it. */
  lowerPath(r: R): string;
  given(r: R): string;
  suggested(r: R): string | null;
  status(r: R): SampleStatus;
  confidence(r: R): number;
  oodScore(r: R): number;
  /** A human decision stands (the 'reviewed' / 'unreviewed' views). */
  decided(r: R): boolean;
}

const plainFields: FilterFields<FilterableRow> = {
  id: (r) => r.id,
  lowerPath: (r) => r.path.toLowerCase(),
  given: (r) => r.given,
  suggested: (r) => r.suggested,
  status: (r) => r.status,
  confidence: (r) => r.confidence,
  oodScore: (r) => r.oodScore,
  decided: (r) => r.decision !== null,
};

type View = SampleFilter['view'];

/** Each view as the model statuses it shows and whether a decision must (not) stand; unset = any. */
const views: Record<View, { statuses?: readonly [SampleStatus, SampleStatus?]; decided?: boolean }> = {
  all: {},
  relabeled: { statuses: ['relabeled'] },
  ood: { statuses: ['ood'] },
  clean: { statuses: ['clean'] },
  suggestions: { statuses: ['relabeled', 'ood'] },
  unreviewed: { decided: false },
  reviewed: { decided: true },
};

/** Ids are row numbers (dense, below the row count), so a byte mask is the quick test; a Set for far-out ones. */
function idTest(ids: readonly number[]): (id: number) => boolean {
  let max = -1;
  for (const id of ids) if (id > max) max = id;
  if (max < 1 << 22) {
    const mask = new Uint8Array(max + 1);
    for (const id of ids) mask[id] = 1;
    return (id) => mask[id] === 1;
  }
  const set = new Set(ids);
  return (id) => set.has(id);
}

/**
 * Compiles `f` into a predicate: compile once per query, then call it per row. Bounds are inclusive;
 * `search` is a case-insensitive substring of the path and an empty one is no search; `given` and
 * `suggested` match exactly (an OOD row has no suggestion, so it never matches one).
 */
export function reviewFilterMatcher(f: SampleFilter): (r: FilterableRow) => boolean;
export function reviewFilterMatcher<R>(f: SampleFilter, fields: FilterFields<R>): (r: R) => boolean;
export function reviewFilterMatcher<R>(
  f: SampleFilter,
  fields: FilterFields<R> = plainFields as unknown as FilterFields<R>,
): (r: R) => boolean {
  const view = views[f.view ?? 'all'];
  if (!view)
    throw new Error(`Unknown review view "${String(f.view)}"; expected one of ${Object.keys(views).join(', ')}`);
  // Two plain comparisons, not `includes` or a lookup: this runs once per row of a 100k-row table.
  const [s0, s1] = view.statuses ?? [];
  const decided = view.decided ?? null;
  const { given, suggested } = f;
  const minC = f.minConfidence ?? -Infinity;
  const maxC = f.maxConfidence ?? Infinity;
  const minO = f.minOod ?? -Infinity;
  const maxO = f.maxOod ?? Infinity;
  const bounded = f.minConfidence !== undefined || f.maxConfidence !== undefined;
  const oodBounded = f.minOod !== undefined || f.maxOod !== undefined;
  const needle = f.search ? f.search.toLowerCase() : null;
  const ids = f.ids ? idTest(f.ids) : null;
  return (r) => {
    if (s0 !== undefined) {
      const st = fields.status(r);
      if (st !== s0 && st !== s1) return false;
    }
    if (decided !== null && fields.decided(r) !== decided) return false;
    if (given !== undefined && fields.given(r) !== given) return false;
    if (suggested !== undefined && fields.suggested(r) !== suggested) return false;
    // "Not outside" rather than "inside": a NaN score (a diverged run) stays visible under any bound.
    if (bounded) {
      const c = fields.confidence(r);
      if (c < minC || c > maxC) return false;
    }
    if (oodBounded) {
      const o = fields.oodScore(r);
      if (o < minO || o > maxO) return false;
    }
    if (ids !== null && !ids(fields.id(r))) return false;
    if (needle !== null && !fields.lowerPath(r).includes(needle)) return false;
    return true;
  };
}
