import { describe, expect, it } from 'vitest';
import type { SampleRow } from '@shared/contract';
import { RowPager } from './row-pager';

function rows(n: number): SampleRow[] {
  return Array.from({ length: n }, (_, id) => ({
    id,
    path: `c/${id}.png`,
    given: 'c',
    suggested: 'c',
    status: 'clean',
    confidence: 1,
    oodScore: 0,
    decision: null,
    finalLabel: 'c',
    source: 'model',
  }));
}

function setup(n: number, pageSize = 10) {
  let data = rows(n);
  const requests: [number, number][] = [];
  let changes = 0;
  const pager = new RowPager(
    async (offset, limit) => {
      requests.push([offset, limit]);
      return { total: data.length, rows: data.slice(offset, offset + limit) };
    },
    pageSize,
    () => changes++,
  );
  return { pager, requests, changes: () => changes, setData: (d: SampleRow[]) => (data = d) };
}

describe('RowPager', () => {
  it('fetches only the pages overlapping the visible range of a 100k list', async () => {
    const { pager, requests } = setup(100_000, 100);
    await pager.ensure(0, 50);
    expect(requests).toEqual([[0, 100]]);
    expect(pager.total).toBe(100_000);
    await pager.ensure(50_050, 50_250);
    expect(requests.slice(1)).toEqual([
      [50_000, 100],
      [50_100, 100],
      [50_200, 100],
    ]);
    expect(pager.rowAt(50_123)?.id).toBe(50_123);
    expect(pager.rowAt(70_000)).toBeUndefined();
  });

  it('does not refetch fresh pages and shares in-flight requests', async () => {
    const { pager, requests } = setup(100);
    await Promise.all([pager.ensure(0, 15), pager.ensure(5, 12)]);
    await pager.ensure(0, 20);
    expect(requests).toEqual([
      [0, 10],
      [10, 10],
    ]);
  });

  it('keeps visible stale pages until fresh data arrives, drops the rest', async () => {
    const { pager, requests, setData } = setup(100);
    await pager.ensure(0, 30);
    const d = rows(100);
    d[5] = { ...d[5]!, decision: { kind: 'accept' }, source: 'accepted' };
    setData(d);
    pager.invalidate({ start: 0, end: 10 });
    expect(pager.rowAt(5)?.decision).toBeNull(); //  still shown (stale), never a guess
    expect(pager.rowAt(15)).toBeUndefined(); //      dropped
    expect(pager.isFresh(0, 10)).toBe(false);
    await pager.ensure(0, 10);
    expect(pager.rowAt(5)?.decision).toEqual({ kind: 'accept' });
    expect(requests.at(-1)).toEqual([0, 10]);
  });

  it('drops answers that arrive after the query changed', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let call = 0;
    const pager = new RowPager(
      async (offset, limit) => {
        const mine = ++call;
        if (mine === 1) await gate;
        const r = rows(mine === 1 ? 50 : 7);
        return { total: r.length, rows: r.slice(offset, offset + limit) };
      },
      10,
      () => undefined,
    );
    const old = pager.ensure(0, 10);
    pager.reset();
    await pager.ensure(0, 10);
    release();
    await old;
    expect(pager.total).toBe(7);
  });

  it('when the total changes under the same query, other pages are dropped (offsets moved)', async () => {
    const { pager, setData } = setup(30);
    await pager.ensure(0, 30);
    setData(rows(25));
    pager.invalidate({ start: 0, end: 30 });
    await pager.ensure(0, 10);
    expect(pager.total).toBe(25);
    expect(pager.rowAt(20)).toBeUndefined();
  });

  it('finds loaded rows by id', async () => {
    const { pager } = setup(40);
    await pager.ensure(10, 20);
    expect(pager.indexOfId(13)).toBe(13);
    expect(pager.indexOfId(35)).toBe(-1);
  });
});
