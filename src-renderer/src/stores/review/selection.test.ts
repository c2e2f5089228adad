import { describe, expect, it, vi } from 'vitest';
import { RANGE_CHUNK, useSelection } from './selection';

// A list of `n` positions where position i holds image id 1000 + i; positions below `loaded` are in
// the pager, the rest must be asked for.
function list(loaded: number, n = 20_000, opts: { failAsk?: boolean } = {}) {
  const asked: [number, number][] = [];
  const fail = vi.fn();
  const sel = useSelection({
    idAt: (i) => (i >= 0 && i < Math.min(loaded, n) ? 1000 + i : undefined),
    idsAt: async (offset, limit) => {
      asked.push([offset, limit]);
      if (opts.failAsk) throw new Error('offline');
      return Array.from({ length: Math.max(0, Math.min(limit, n - offset)) }, (_, k) => 1000 + offset + k);
    },
    allIds: async () => {
      if (opts.failAsk) throw new Error('offline');
      return Array.from({ length: n }, (_, i) => 1000 + i);
    },
    fail,
  });
  return { sel, asked, fail };
}

describe('review selection', () => {
  it('toggle flips one image and makes it the anchor; an unloaded position does nothing', () => {
    const { sel } = list(10);
    sel.toggle(4);
    expect(sel.has(1004)).toBe(true);
    expect(sel.anchor.value).toBe(4);
    sel.toggle(6);
    sel.toggle(4);
    expect(sel.has(1004)).toBe(false);
    expect(sel.snapshot()).toEqual([1006]);
    expect(sel.anchor.value).toBe(4);
    sel.toggle(50);
    expect(sel.count.value).toBe(1);
    expect(sel.anchor.value).toBe(4);
  });

  it('a range covers both ends in either order; it replaces the selection unless additive', async () => {
    const { sel, asked } = list(100);
    await sel.selectRange(7, 3, false);
    expect(sel.snapshot().sort()).toEqual([1003, 1004, 1005, 1006, 1007]);
    await sel.selectRange(10, 11, true);
    expect(sel.count.value).toBe(7);
    expect(sel.has(1007) && sel.has(1010) && sel.has(1011) && !sel.has(1008)).toBe(true);
    await sel.selectRange(0, 0, false);
    expect(sel.snapshot()).toEqual([1000]);
    expect(asked).toEqual([]); // everything was loaded
  });

  it('a range past the loaded rows asks only for the rest, in chunks', async () => {
    const { sel, asked } = list(150);
    await sel.selectRange(100, 12_000, false);
    expect(asked).toEqual([
      [150, RANGE_CHUNK],
      [150 + RANGE_CHUNK, RANGE_CHUNK],
      [150 + 2 * RANGE_CHUNK, 12_000 - 150 - 2 * RANGE_CHUNK + 1],
    ]);
    expect(sel.count.value).toBe(12_000 - 100 + 1);
    expect(sel.has(1100) && sel.has(1149) && sel.has(1150) && sel.has(13_000)).toBe(true);
    expect(sel.has(1099) || sel.has(13_001)).toBe(false);
  });

  it('a failed fetch is reported and keeps the loaded part', async () => {
    const { sel, fail } = list(10, 100, { failAsk: true });
    await sel.selectRange(5, 20, false);
    expect(fail).toHaveBeenCalledTimes(1);
    expect(sel.count.value).toBe(5);
  });

  it('select-all takes every id of the filter and replaces the selection', async () => {
    const { sel } = list(10, 300);
    sel.toggle(2);
    expect(await sel.selectAll()).toBe(300);
    expect(sel.count.value).toBe(300);
    expect(sel.has(1299)).toBe(true);
    const broken = list(10, 300, { failAsk: true });
    broken.sel.toggle(2);
    expect(await broken.sel.selectAll()).toBeNull();
    expect(broken.fail).toHaveBeenCalledTimes(1);
    expect(broken.sel.snapshot()).toEqual([1002]);
  });

  it('clear empties the selection and drops the anchor; the count follows every change', () => {
    const { sel } = list(10);
    const v0 = sel.version.value;
    sel.toggle(1);
    sel.toggle(2);
    expect(sel.count.value).toBe(2);
    expect(sel.version.value).toBe(v0 + 2);
    const copy = sel.snapshot();
    sel.clear();
    expect(sel.count.value).toBe(0);
    expect(sel.anchor.value).toBeNull();
    expect(copy).toEqual([1001, 1002]); // a snapshot is not the live set
  });
});
