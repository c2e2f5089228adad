// Lazily loaded window onto a filtered, sorted sample list that may hold 100k rows. Only pages
// overlapping what the grid shows are fetched; everything else is never requested. Rows live in a
// plain Map (not reactive) so 100k objects never become Vue proxies; `onChange` tells the owner
// to bump one version counter instead.
import type { SampleRow } from '@shared/contract';

export type PageFetch = (offset: number, limit: number) => Promise<{ total: number; rows: SampleRow[] }>;

interface Page {
  rows: SampleRow[];
  dataGen: number;
}

export class RowPager {
  total: number | null = null;
  private pages = new Map<number, Page>();
  private inflight = new Map<number, { promise: Promise<void>; dataGen: number }>();
  private gen = 0; //     bumps when the query (filter/sort/run) changes: old answers are dropped
  private dataGen = 0; // bumps when data changed under the same query: pages become stale

  constructor(
    private fetchPage: PageFetch,
    readonly pageSize: number,
    private onChange: () => void,
  ) {}

  /** New query: forget every row. */
  reset(fetchPage?: PageFetch): void {
    if (fetchPage) this.fetchPage = fetchPage;
    this.gen++;
    this.dataGen++;
    this.pages.clear();
    this.inflight.clear();
    this.total = null;
    this.onChange();
  }

  /**
   * Same query, changed data (a decision, undo, another window). Pages overlapping `keep` stay on
   * screen until their fresh copy arrives; the rest are dropped so they are never shown stale.
   */
  invalidate(keep: { start: number; end: number }): void {
    this.dataGen++;
    const first = Math.floor(keep.start / this.pageSize);
    const last = Math.floor(Math.max(keep.start, keep.end - 1) / this.pageSize);
    for (const p of [...this.pages.keys()]) if (p < first || p > last) this.pages.delete(p);
  }

  rowAt(i: number): SampleRow | undefined {
    return this.pages.get(Math.floor(i / this.pageSize))?.rows[i % this.pageSize];
  }

  /** True when every page in [start, end) is loaded and fresh. */
  isFresh(start: number, end: number): boolean {
    for (const p of this.pagesIn(start, end)) {
      const page = this.pages.get(p);
      if (!page || page.dataGen !== this.dataGen) return false;
    }
    return true;
  }

  /** Fetches the missing or stale pages overlapping [start, end); resolves when they are in. */
  async ensure(start: number, end: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const p of this.pagesIn(start, end)) {
      const page = this.pages.get(p);
      if (page && page.dataGen === this.dataGen) continue;
      const flight = this.inflight.get(p);
      if (flight && flight.dataGen === this.dataGen) {
        waits.push(flight.promise);
        continue;
      }
      waits.push(this.load(p));
    }
    await Promise.all(waits);
  }

  /** Index of a loaded row with this id, or -1 (only loaded pages are searched). */
  indexOfId(id: number): number {
    for (const [p, page] of this.pages) {
      const k = page.rows.findIndex((r) => r.id === id);
      if (k >= 0) return p * this.pageSize + k;
    }
    return -1;
  }

  private pagesIn(start: number, end: number): number[] {
    const max = this.total === null ? Infinity : this.total;
    const s = Math.max(0, start);
    const e = Math.min(end, max);
    if (e <= s) return this.total === null ? [0] : [];
    const out: number[] = [];
    for (let p = Math.floor(s / this.pageSize); p <= Math.floor((e - 1) / this.pageSize); p++) out.push(p);
    return out;
  }

  private load(p: number): Promise<void> {
    const gen = this.gen;
    const dataGen = this.dataGen;
    const promise = this.fetchPage(p * this.pageSize, this.pageSize).then(
      (res) => {
        if (gen !== this.gen) return; // the query changed while this was in flight
        if (this.inflight.get(p)?.promise === promise) this.inflight.delete(p);
        const cur = this.pages.get(p);
        if (cur && cur.dataGen > dataGen) return;
        if (this.total !== null && res.total !== this.total && dataGen === this.dataGen) {
          // Rows entered or left the filter: offsets of other pages are no longer right.
          for (const q of [...this.pages.keys()]) if (q !== p) this.pages.delete(q);
        }
        if (dataGen === this.dataGen || this.total === null) this.total = res.total;
        this.pages.set(p, { rows: res.rows, dataGen });
        this.onChange();
      },
      (err: unknown) => {
        if (this.inflight.get(p)?.promise === promise) this.inflight.delete(p);
        throw err;
      },
    );
    this.inflight.set(p, { promise, dataGen });
    return promise;
  }
}
