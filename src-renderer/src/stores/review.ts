// The review grid's state: query (filter + sort), the lazily paged rows, focus and the detail of
// the focused sample. The selection (review/selection.ts) and the decision queue with undo/redo
// (review/decision-queue.ts) are composables this store wires to the rows and the API.
import { defineStore } from 'pinia';
import { computed, markRaw, ref, shallowRef, watch } from 'vue';
import type { ApiEvent, DecisionAction, SampleDetail, SampleFilter, SampleRow, SampleSort } from '@shared/contract';
import { transport } from '../api/client';
import { moveIndex, type Move } from '../lib/keymap';
import { RowPager } from '../lib/row-pager';
import { useAppStore } from './app';
import { useDecisionQueue } from './review/decision-queue';
import { useSelection } from './review/selection';

export const PAGE_SIZE = 150;

export type ViewName = SampleFilter['view'];

export const views: { id: ViewName; label: string }[] = [
  { id: 'all', label: 'All' },
  { id: 'suggestions', label: 'Suggestions' },
  { id: 'relabeled', label: 'Suggested relabels' },
  { id: 'ood', label: 'OOD candidates' },
  { id: 'clean', label: 'Clean' },
  { id: 'unreviewed', label: 'Unreviewed' },
  { id: 'reviewed', label: 'Reviewed' },
];

/** Drops empty optional fields so the server sees exactly the active filter. */
export function cleanFilter(f: SampleFilter): SampleFilter {
  const out: SampleFilter = { view: f.view };
  if (f.given) out.given = f.given;
  if (f.suggested) out.suggested = f.suggested;
  for (const k of ['minConfidence', 'maxConfidence', 'minOod', 'maxOod'] as const) {
    const v = f[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = Math.min(1, Math.max(0, v));
  }
  if (f.search?.trim()) out.search = f.search.trim();
  if (f.ids) out.ids = f.ids;
  return out;
}

/** How long typing in a filter box waits before the grid follows. */
export const FILTER_DEBOUNCE_MS = 250;
const storageKey = (projectId: string): string => `mopro.review.${projectId}`;
/** Id lists longer than this are not kept across reloads (localStorage is small). */
const MAX_STORED_IDS = 20_000;

/** The grid's filter and sort as kept across reloads; null when nothing usable is stored. */
export function readStoredQuery(
  raw: string | null,
): { filter: SampleFilter; sort: SampleSort; idsLabel: string | null } | null {
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as { filter?: SampleFilter; sort?: SampleSort; idsLabel?: string | null };
    if (!v || typeof v !== 'object' || !v.filter || !views.some((x) => x.id === v.filter!.view)) return null;
    const sort: SampleSort = v.sort && typeof v.sort.key === 'string' ? v.sort : { key: 'path', dir: 'asc' };
    return { filter: cleanFilter(v.filter), sort, idsLabel: typeof v.idsLabel === 'string' ? v.idsLabel : null };
  } catch {
    return null;
  }
}

/** A filter with only the fields given (the rest of the grid's filter is cleared). */
export function gridFilter(f: Partial<SampleFilter>): Partial<SampleFilter> {
  return {
    view: 'all',
    given: undefined,
    suggested: undefined,
    minConfidence: undefined,
    maxConfidence: undefined,
    minOod: undefined,
    maxOod: undefined,
    search: undefined,
    ids: undefined,
    ...f,
  };
}

export const useReviewStore = defineStore('review', () => {
  const app = useAppStore();
  const filter = ref<SampleFilter>({ view: 'all' });
  const sort = ref<SampleSort>({ key: 'path', dir: 'asc' });
  const version = ref(0); //           bumps whenever rows changed (pager is not reactive)
  const total = ref<number | null>(null);
  const cols = ref(1);
  const visibleRows = ref(8); //       grid rows that fit on screen (for PageUp/PageDown)
  const focusIndex = ref(0);
  const detail = shallowRef<SampleDetail | null>(null);
  const status = ref<string>('');
  const lastQueryMs = ref<number | null>(null);
  const loadError = ref<string | null>(null);
  /** Where an id-list filter came from ("selected on the embedding map"), shown on its chip. */
  const idsLabel = ref<string | null>(null);
  let filterTimer: ReturnType<typeof setTimeout> | null = null;
  let visible = { start: 0, end: PAGE_SIZE };

  const projectId = computed(() => app.project?.id ?? null);
  const hasRun = computed(() => !!app.project?.activeRunId);
  const classes = computed(() => app.project?.classes ?? []);
  const imageCount = computed(() => app.project?.imageCount ?? 0);

  /** Positions offset..offset+limit-1 of the current query (filter and sort). */
  const query = (offset: number, limit: number) =>
    transport().api.call('samples.query', {
      projectId: projectId.value!,
      filter: cleanFilter(filter.value),
      sort: sort.value,
      offset,
      limit,
    });
  const pager = markRaw(
    new RowPager(
      async (offset, limit) => {
        const t0 = performance.now();
        const res = await query(offset, limit);
        lastQueryMs.value = Math.round(performance.now() - t0);
        return res;
      },
      PAGE_SIZE,
      () => {
        total.value = pager.total;
        version.value++;
      },
    ),
  );

  function rowAt(i: number): SampleRow | undefined {
    void version.value; // dependency for the grid's render
    return pager.rowAt(i);
  }
  const focusedRow = computed(() => rowAt(focusIndex.value));

  const selection = useSelection({
    idAt: (i) => pager.rowAt(i)?.id,
    // Not through the pager: a range can span thousands of rows the grid never shows.
    idsAt: async (offset, limit) => (projectId.value ? (await query(offset, limit)).rows.map((r) => r.id) : []),
    allIds: async () => {
      const { ids } = await transport().api.call('samples.ids', {
        projectId: projectId.value!,
        filter: cleanFilter(filter.value),
      });
      return ids;
    },
    fail: (err) => app.fail(err),
  });
  const { version: selectionVersion, anchor, count: selectedCount, has: isSelected, selectRange } = selection;
  const decisions = useDecisionQueue({
    projectId: () => projectId.value,
    api: () => transport().api,
    refreshRows,
    showDetail: () => scheduleDetail(0),
    status,
    fail: (err) => app.fail(err),
  });
  const { reviewed, canUndo, canRedo, deciding, undo, redo } = decisions;

  // ---- loading ---------------------------------------------------------------------------
  async function ensureVisible(): Promise<void> {
    if (!projectId.value || !hasRun.value) return;
    try {
      loadError.value = null;
      await pager.ensure(visible.start, visible.end);
    } catch (err) {
      loadError.value = (err as Error).message;
      app.fail(err);
    }
  }

  function setVisibleRange(start: number, end: number): void {
    visible = { start, end: Math.max(end, start + 1) };
    void ensureVisible();
  }

  /** New query (project, run, filter or sort changed): start from the top. */
  async function reload(): Promise<void> {
    pager.reset();
    focusIndex.value = 0;
    anchor.value = null;
    detail.value = null;
    visible = { start: 0, end: Math.max(visible.end - visible.start, PAGE_SIZE) };
    await ensureVisible();
    scheduleDetail();
  }

  function persist(): void {
    const pid = projectId.value;
    if (!pid || typeof localStorage === 'undefined') return;
    const f = cleanFilter(filter.value);
    if (f.ids && f.ids.length > MAX_STORED_IDS) delete f.ids;
    try {
      localStorage.setItem(
        storageKey(pid),
        JSON.stringify({ filter: f, sort: sort.value, idsLabel: f.ids ? idsLabel.value : null }),
      );
    } catch {
      /* storage full or disabled: the filter just does not survive a reload */
    }
  }

  function setFilter(patch: Partial<SampleFilter>, label?: string | null): void {
    const pending = filterTimer !== null;
    if (filterTimer) {
      clearTimeout(filterTimer);
      filterTimer = null;
    }
    const next = { ...filter.value, ...patch };
    // Leaving a box whose value already applied must not send the grid back to the top.
    if (
      !pending &&
      label === undefined &&
      JSON.stringify(cleanFilter(next)) === JSON.stringify(cleanFilter(filter.value))
    )
      return;
    filter.value = next;
    if (label !== undefined) idsLabel.value = label;
    if (!filter.value.ids) idsLabel.value = null;
    persist();
    void reload();
  }

  /** For typing: the grid follows once the person pauses. */
  function setFilterSoon(patch: Partial<SampleFilter>): void {
    filter.value = { ...filter.value, ...patch };
    persist(); // what the box shows survives a reload even inside the pause
    if (filterTimer) clearTimeout(filterTimer);
    filterTimer = setTimeout(() => setFilter({}), FILTER_DEBOUNCE_MS); // pending: setFilter applies it
  }

  function resetFilter(): void {
    setFilter(gridFilter({}));
  }

  /** Drops an id-list filter (a map selection or a duplicate pair), keeping the rest. */
  function clearIds(): void {
    setFilter({ ids: undefined }, null);
  }

  function setSort(s: Partial<SampleSort>): void {
    sort.value = { ...sort.value, ...s };
    persist();
    void reload();
  }

  /** Re-read what is on screen after data changed under the same query. */
  async function refreshRows(): Promise<void> {
    pager.invalidate(visible);
    await ensureVisible();
    if (total.value !== null && focusIndex.value >= total.value) focusIndex.value = Math.max(0, total.value - 1);
  }

  // ---- focus and selection ----------------------------------------------------------------
  function focus(i: number): void {
    const n = total.value ?? 0;
    focusIndex.value = n === 0 ? 0 : Math.min(n - 1, Math.max(0, i));
    scheduleDetail();
  }

  function move(m: Move, extend: boolean): void {
    const from = focusIndex.value;
    const to = moveIndex(from, m, cols.value, total.value ?? 0, visibleRows.value);
    if (extend) {
      if (anchor.value === null) anchor.value = from;
      focus(to);
      void selectRange(anchor.value, to, false);
    } else {
      anchor.value = null;
      focus(to);
    }
  }

  function toggleSelect(i = focusIndex.value): void {
    selection.toggle(i);
  }

  function clickCell(i: number, mods: { shift: boolean; toggle: boolean }): void {
    if (mods.shift) {
      const from = anchor.value ?? focusIndex.value;
      anchor.value = from;
      focus(i);
      void selectRange(from, i, mods.toggle);
      return;
    }
    if (mods.toggle) {
      focus(i);
      toggleSelect(i);
      return;
    }
    anchor.value = i;
    focus(i);
  }

  async function selectAll(): Promise<void> {
    if (!projectId.value) return;
    const n = await selection.selectAll();
    if (n !== null) status.value = `Selected ${n.toLocaleString('en-US')} images`;
  }

  function clearSelection(): void {
    selection.clear();
  }

  // ---- detail -----------------------------------------------------------------------------
  let detailTimer: ReturnType<typeof setTimeout> | null = null;
  let detailSeq = 0;
  function scheduleDetail(delay = 60): void {
    if (detailTimer) clearTimeout(detailTimer);
    // Holding an arrow key should not fire one request per repeat.
    detailTimer = setTimeout(() => void loadDetail(), delay);
  }
  async function loadDetail(): Promise<void> {
    const row = pager.rowAt(focusIndex.value);
    const seq = ++detailSeq;
    if (!row || !projectId.value) {
      if (!row && total.value !== null && total.value > 0) {
        await pager.ensure(focusIndex.value, focusIndex.value + 1).catch(() => undefined);
        if (seq === detailSeq && pager.rowAt(focusIndex.value)) return loadDetail();
      }
      if (seq === detailSeq) detail.value = null;
      return;
    }
    try {
      const d = await transport().api.call('samples.get', { projectId: projectId.value, id: row.id });
      if (seq === detailSeq) detail.value = d;
    } catch (err) {
      if (seq === detailSeq) detail.value = null;
      app.fail(err);
    }
  }

  // ---- decisions --------------------------------------------------------------------------
  /** Applies to the selection when there is one, else to the focused image. */
  function decide(action: DecisionAction): Promise<void> {
    // Read when the decision's turn comes, so it acts on what is focused once earlier ones landed.
    return decisions.decide(action, () => {
      if (selectedCount.value > 0) return { ids: selection.snapshot(), landed: clearSelection };
      const focused = pager.rowAt(focusIndex.value);
      if (!focused) return null;
      const nextRow = pager.rowAt(focusIndex.value + 1);
      return {
        ids: [focused.id],
        landed: () => {
          if (!nextRow) return;
          // Move on to the image that followed, wherever it sits now (it may have shifted up
          // when the decided one left the filter).
          const at = pager.indexOfId(nextRow.id);
          focus(at >= 0 ? at : focusIndex.value);
        },
      };
    });
  }

  function overrideToIndex(k: number): Promise<void> {
    const label = classes.value[k];
    if (!label) {
      app.notify(
        'error',
        `There is no class ${k === 9 ? 0 : k + 1}: this dataset has ${classes.value.length} classes.`,
      );
      return Promise.resolve();
    }
    return decide({ kind: 'override', label });
  }

  /** Decisions made elsewhere (another window, the CLI) or echoes of ours. */
  function onEvent(e: ApiEvent): void {
    if (e.type !== 'decisions.changed' || e.projectId !== projectId.value) return;
    decisions.heard(e);
  }

  function thumbUrl(path: string): string {
    return projectId.value ? transport().api.imageUrl(projectId.value, path, 'thumb') : '';
  }
  function fullUrl(path: string): string {
    return projectId.value ? transport().api.imageUrl(projectId.value, path, 'full') : '';
  }

  app.onEvent(onEvent);
  watch(
    () => [app.project?.id, app.project?.activeRunId] as const,
    ([id, run], old) => {
      reviewed.value = app.project?.reviewed ?? 0;
      if (id !== old?.[0] || run !== old?.[1]) {
        if (id !== old?.[0]) {
          // Another project (or a page reload): its own filter and sort, as the person left them.
          const stored =
            id && typeof localStorage !== 'undefined' ? readStoredQuery(localStorage.getItem(storageKey(id))) : null;
          filter.value = stored?.filter ?? { view: 'all' };
          sort.value = stored?.sort ?? { key: 'path', dir: 'asc' };
          idsLabel.value = stored?.filter.ids ? stored.idsLabel : null;
        } else if (filter.value.ids) {
          // Ids are rows of one run: another run's rows are other images.
          filter.value = { ...filter.value, ids: undefined };
          idsLabel.value = null;
          persist();
        }
        clearSelection();
        status.value = '';
        // Unknown until the first answer; the journal survives restarts, so assume undo works.
        canUndo.value = (app.project?.reviewed ?? 0) > 0;
        canRedo.value = false;
        void reload();
      }
    },
  );
  watch(
    () => app.project?.reviewed,
    (n) => {
      if (typeof n === 'number') reviewed.value = n;
    },
  );

  return {
    filter,
    sort,
    version,
    total,
    cols,
    visibleRows,
    focusIndex,
    focusedRow,
    selectionVersion,
    selectedCount,
    anchor,
    detail,
    reviewed,
    canUndo,
    canRedo,
    status,
    deciding,
    lastQueryMs,
    loadError,
    idsLabel,
    hasRun,
    classes,
    imageCount,
    rowAt,
    isSelected,
    setVisibleRange,
    reload,
    setFilter,
    setFilterSoon,
    resetFilter,
    clearIds,
    setSort,
    refreshRows,
    focus,
    move,
    toggleSelect,
    selectRange,
    clickCell,
    selectAll,
    clearSelection,
    loadDetail,
    decide,
    overrideToIndex,
    undo,
    redo,
    thumbUrl,
    fullUrl,
    /** Resolves once every queued decision has landed (tests, export). */
    settled: decisions.settled,
  };
});
