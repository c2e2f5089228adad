// Filter / sort / paginate for the review grid over a SampleTable. Sort orders are computed once
// per key and reused (descending = walking the ascending order backwards); the last filtered
// result is cached so paging through it costs O(limit). What a filter lets through is decided by
// src-shared/review-filter.ts, the matcher the renderer's tests use too.
import type { SampleFilter, SampleRow, SampleSort } from '../../src-shared/contract';
import { reviewFilterMatcher } from '../../src-shared/review-filter';
import { DKIND, rowOf, STATUS, type SampleTable } from './table';

type SortKey = SampleSort['key'];

export class QueryEngine {
  private orders = new Map<SortKey, Int32Array>();
  private pathRank: Int32Array | null = null;
  private lower: string[] | null = null;
  private cache: { key: string; version: number; ids: Int32Array } | null = null;
  private warmed = false;

  /** `version()` changes whenever decisions change (views 'reviewed'/'unreviewed' depend on them). */
  constructor(
    readonly t: SampleTable,
    private version: () => number = () => 0,
  ) {}

  private byPath(): Int32Array {
    if (!this.pathRank) {
      const { paths, n } = this.t;
      const order = Int32Array.from({ length: n }, (_, i) => i);
      // Runs list samples in path order already (the scan sorts); check in O(n) before sorting.
      let sorted = true;
      for (let i = 1; i < n && sorted; i++) if (!(paths[i - 1] < paths[i])) sorted = false;
      // Code-point order: a locale collator is ~20x slower on 100k strings.
      if (!sorted) order.sort((a, b) => (paths[a] < paths[b] ? -1 : paths[a] > paths[b] ? 1 : a - b));
      this.orders.set('path', order);
      const rank = new Int32Array(n);
      for (let r = 0; r < n; r++) rank[order[r]] = r;
      this.pathRank = rank;
    }
    return this.orders.get('path')!;
  }

  order(key: SortKey): Int32Array {
    const cached = this.orders.get(key);
    if (cached) return cached;
    const byPath = this.byPath();
    if (key === 'path') return byPath;
    const t = this.t;
    // Sort one Float64 key per row, (primary << 21) + path rank, with the native numeric sort
    // (no comparator: ~10x faster); exact while primary < 2^32 and n < 2^21.
    let primary: (i: number) => number;
    if (key === 'confidence' || key === 'oodScore') {
      const bits = new Uint32Array((key === 'confidence' ? t.confidence : t.ood).buffer.slice(0));
      // IEEE-754 bits -> unsigned order: flip all bits of negatives, the sign bit of positives.
      primary = (i) => {
        const b = bits[i];
        return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
      };
    } else {
      const col = key === 'given' ? t.given : t.suggested;
      const lrank = new Int32Array(t.labels.length);
      t.labels
        .map((l, i) => [l, i] as const)
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .forEach(([, i], r) => {
          lrank[i] = r;
        });
      // OOD (no suggestion) sorts after every label.
      primary = (i) => (col[i] < 0 ? t.labels.length : lrank[col[i]]);
    }
    const order = new Int32Array(t.n);
    if (t.n < 1 << 21) {
      const keys = new Float64Array(t.n);
      const rank = this.pathRank!;
      for (let i = 0; i < t.n; i++) keys[i] = primary(i) * 2097152 + rank[i];
      keys.sort();
      for (let r = 0; r < t.n; r++) order[r] = byPath[keys[r] % 2097152];
    } else {
      const rank = this.pathRank!;
      const prim = Float64Array.from({ length: t.n }, (_, i) => primary(i));
      for (let i = 0; i < t.n; i++) order[i] = i;
      order.sort((a, b) => prim[a] - prim[b] || rank[a] - rank[b]);
    }
    this.orders.set(key, order);
    return order;
  }

  /** Builds every sort order and the search index now (called when the event loop is idle after open). */
  warm(): void {
    for (const k of ['path', 'confidence', 'oodScore', 'given', 'suggested'] as const) this.order(k);
    this.lower ??= this.t.paths.map((p) => p.toLowerCase());
  }

  /** Row ids matching `filter`, in `sort` order. */
  ids(filter: SampleFilter, sort: SampleSort = { key: 'path', dir: 'asc' }): Int32Array {
    const key = JSON.stringify([filter, sort.key, sort.dir]);
    const version = this.version();
    if (this.cache && this.cache.key === key && this.cache.version === version) return this.cache.ids;
    const ids = this.compute(filter, sort);
    this.cache = { key, version, ids };
    if (!this.warmed) {
      // Once the first page is out, build the other sort orders while the person looks at it,
      // so the first filter or sort change is as quick as the rest.
      this.warmed = true;
      setTimeout(() => this.warm(), 20).unref();
    }
    return ids;
  }

  private compute(f: SampleFilter, sort: SampleSort): Int32Array {
    const t = this.t;
    const order = this.order(sort.key);
    if (f.search) this.lower ??= t.paths.map((p) => p.toLowerCase());
    const lower = this.lower;
    // The one review-filter matcher, reading the columns directly: no row object per index.
    const match = reviewFilterMatcher<number>(f, {
      id: (i) => i,
      lowerPath: (i) => lower![i],
      given: (i) => t.labels[t.given[i]],
      suggested: (i) => (t.suggested[i] < 0 ? null : t.labels[t.suggested[i]]),
      status: (i) => STATUS[t.status[i]],
      confidence: (i) => t.confidence[i],
      oodScore: (i) => t.ood[i],
      decided: (i) => t.dKind[i] !== DKIND.none,
    });
    const out = new Int32Array(t.n);
    let m = 0;
    const desc = sort.dir === 'desc';
    for (let k = 0; k < t.n; k++) {
      const i = order[desc ? t.n - 1 - k : k];
      if (t.present[i] && match(i)) out[m++] = i;
    }
    return out.slice(0, m);
  }

  page(filter: SampleFilter, sort: SampleSort, offset: number, limit: number): { total: number; rows: SampleRow[] } {
    const ids = this.ids(filter, sort);
    const rows: SampleRow[] = [];
    for (let k = offset; k < Math.min(ids.length, offset + limit); k++) rows.push(rowOf(this.t, ids[k]));
    return { total: ids.length, rows };
  }
}
