// The review grid's selection, a composable of the review store. It holds image ids, not positions,
// so it survives paging; the anchor is the position a shift-range starts from. A range may reach
// rows that are not loaded yet, so their ids are asked for.
import { computed, markRaw, ref } from 'vue';

/** What the selection needs from the list it selects in. */
export interface SelectionSource {
  /** The id at a position of the current list, when that row is loaded. */
  idAt(i: number): number | undefined;
  /** The ids at positions offset .. offset+limit-1 of the current list. */
  idsAt(offset: number, limit: number): Promise<number[]>;
  /** Every id the current filter matches. */
  allIds(): Promise<number[]>;
  /** Shows an error that stopped a range or select-all. */
  fail(err: unknown): void;
}

/** Rows asked for in one request when a range reaches past the loaded pages. */
export const RANGE_CHUNK = 5000;

export function useSelection(src: SelectionSource) {
  const ids = markRaw(new Set<number>());
  /** Bumps on every change: the Set itself is not reactive (100k ids would be slow to proxy). */
  const version = ref(0);
  const anchor = ref<number | null>(null);
  const count = computed(() => (version.value, ids.size));

  function has(id: number): boolean {
    void version.value;
    return ids.has(id);
  }

  /** Flips the image at position `i` and makes it the anchor; nothing when that row is not loaded. */
  function toggle(i: number): void {
    const id = src.idAt(i);
    if (id === undefined) return;
    if (ids.has(id)) ids.delete(id);
    else ids.add(id);
    anchor.value = i;
    version.value++;
  }

  /** Selects positions a..b (either order) of the current list; `additive` keeps what was selected. */
  async function selectRange(a: number, b: number, additive: boolean): Promise<void> {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    if (!additive) ids.clear();
    const missing: number[] = [];
    for (let i = lo; i <= hi; i++) {
      const id = src.idAt(i);
      if (id !== undefined) ids.add(id);
      else missing.push(i);
    }
    version.value++;
    if (missing.length === 0) return;
    try {
      for (let off = missing[0]!; off <= missing[missing.length - 1]!; off += RANGE_CHUNK) {
        for (const id of await src.idsAt(off, Math.min(RANGE_CHUNK, hi - off + 1))) ids.add(id);
      }
      version.value++;
    } catch (err) {
      src.fail(err);
    }
  }

  /** Selects everything the filter matches, loaded or not; the count selected, or null when it failed. */
  async function selectAll(): Promise<number | null> {
    try {
      const all = await src.allIds();
      ids.clear();
      for (const id of all) ids.add(id);
      version.value++;
      return all.length;
    } catch (err) {
      src.fail(err);
      return null;
    }
  }

  function clear(): void {
    ids.clear();
    anchor.value = null;
    version.value++;
  }

  return {
    version,
    anchor,
    count,
    has,
    toggle,
    selectRange,
    selectAll,
    clear,
    /** The selected ids now, as a copy: the Set changes only through these functions, which bump `version`. */
    snapshot: (): number[] => [...ids],
  };
}
