// Insights state: the embedding map (PCA first, then UMAP from the server with progress), class
// health, near-duplicate pairs and the run comparison; and the hand-offs to the review grid
// (a map selection or a confusion cell becomes the grid's filter).
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type {
  ApiEvent,
  ClassHealth,
  DuplicateSide,
  Duplicates,
  EmbeddingMap,
  MethodResult,
  SampleFilter,
} from '@shared/contract';
import { transport } from '../api/client';
import { useAppStore } from './app';
import { gridFilter, useReviewStore } from './review';

export type InsightsView = 'map' | 'health' | 'duplicates' | 'compare';
export type ColorBy = 'given' | 'corrected' | 'status';

/** The filter a confusion-matrix cell stands for: given row, corrected column (null = OOD). */
export function cellFilter(given: string, corrected: string | null): Partial<SampleFilter> {
  return corrected === null ? gridFilter({ view: 'ood', given }) : gridFilter({ given, suggested: corrected });
}

export const useInsightsStore = defineStore('insights', () => {
  const app = useAppStore();
  const view = ref<InsightsView>('map');
  const colorBy = ref<ColorBy>('given');
  const method = ref<'pca' | 'umap'>('pca');
  const pca = shallowRef<EmbeddingMap | null>(null);
  const umap = shallowRef<EmbeddingMap | null>(null);
  const mapError = ref<string | null>(null);
  const mapLoading = ref(false);
  const umapProgress = ref<{ phase: string; done: number; total: number } | null>(null);
  const selection = shallowRef<number[]>([]);
  const health = shallowRef<(ClassHealth & { runId: string }) | null>(null);
  const healthError = ref<string | null>(null);
  const dups = shallowRef<Duplicates | null>(null);
  const dupError = ref<string | null>(null);
  const dupLoading = ref(false);
  const threshold = ref(0.98);
  /**
   * Also require the images to agree: perceptual hashes within a few bits and 16x16 thumbnails
   * within a few grey levels on average, so only near-identical files count, not look-alikes.
   */
  const checkImages = ref(true);
  const maxHamming = ref(4);
  const maxPixelDiff = ref(2);
  const dropped = ref<Set<number>>(new Set());
  const compareA = ref<string | null>(null);
  const compareB = ref<string | null>(null);
  const comparison = shallowRef<MethodResult<'insights.compareRuns'> | null>(null);
  const compareError = ref<string | null>(null);
  /** Time from asking for the map to the first frame drawn (ms), for the status line and the bench. */
  const firstPaintMs = ref<number | null>(null);
  let mapAskedAt = 0;
  let generation = 0;

  const projectId = computed(() => app.project?.id ?? null);
  const runId = computed(() => app.project?.activeRunId ?? null);
  const map = computed(() => (method.value === 'umap' && umap.value ? umap.value : pca.value));

  function reset(): void {
    generation++;
    pca.value = umap.value = health.value = dups.value = comparison.value = null;
    mapError.value = healthError.value = dupError.value = compareError.value = null;
    umapProgress.value = null;
    mapLoading.value = dupLoading.value = false; // answers for the old run are dropped by generation
    selection.value = [];
    dropped.value = new Set();
    method.value = 'pca';
    firstPaintMs.value = null;
  }

  const message = (e: unknown): string => String((e as Error)?.message ?? e);

  /** PCA at once, then UMAP in the background; the map switches to UMAP when it arrives. */
  async function loadMap(): Promise<void> {
    const pid = projectId.value;
    if (!pid || !runId.value || mapLoading.value || pca.value) return;
    const gen = generation;
    mapLoading.value = true;
    mapError.value = null;
    mapAskedAt = performance.now();
    try {
      const p = await transport().api.call('insights.embedding', { projectId: pid, method: 'pca' });
      if (gen !== generation) return;
      pca.value = p;
    } catch (e) {
      if (gen === generation) mapError.value = message(e);
      return;
    } finally {
      if (gen === generation) mapLoading.value = false;
    }
    void loadUmap(pid, gen);
  }

  async function loadUmap(pid: string, gen: number): Promise<void> {
    umapProgress.value = { phase: 'pca', done: 0, total: 1 };
    try {
      const u = await transport().api.call('insights.embedding', { projectId: pid, method: 'umap' });
      if (gen !== generation) return;
      umap.value = u;
      method.value = 'umap';
    } catch (e) {
      if (gen === generation) app.notify('error', `UMAP layout failed: ${message(e)}`);
    } finally {
      if (gen === generation) umapProgress.value = null;
    }
  }

  function painted(): void {
    if (firstPaintMs.value === null && mapAskedAt) firstPaintMs.value = Math.round(performance.now() - mapAskedAt);
  }

  async function loadHealth(): Promise<void> {
    const pid = projectId.value;
    if (!pid || !runId.value) return;
    const gen = generation;
    try {
      const h = await transport().api.call('insights.classHealth', { projectId: pid });
      if (gen === generation) {
        health.value = h;
        healthError.value = null;
      }
    } catch (e) {
      if (gen === generation) healthError.value = message(e);
    }
  }

  async function loadDuplicates(): Promise<void> {
    const pid = projectId.value;
    if (!pid || !runId.value) return;
    const gen = generation;
    dupLoading.value = true;
    try {
      const d = await transport().api.call('insights.duplicates', {
        projectId: pid,
        threshold: threshold.value,
        maxPairs: 500,
        ...(checkImages.value ? { maxHamming: maxHamming.value, maxPixelDiff: maxPixelDiff.value } : {}),
      });
      if (gen === generation) {
        dups.value = d;
        dupError.value = null;
      }
    } catch (e) {
      if (gen === generation) dupError.value = message(e);
    } finally {
      dupLoading.value = false;
    }
  }

  async function loadComparison(): Promise<void> {
    const pid = projectId.value;
    if (!pid || !compareA.value || !compareB.value) return;
    const gen = generation;
    try {
      const c = await transport().api.call('insights.compareRuns', {
        projectId: pid,
        runA: compareA.value,
        runB: compareB.value,
      });
      if (gen === generation) {
        comparison.value = c;
        compareError.value = null;
      }
    } catch (e) {
      if (gen === generation) compareError.value = message(e);
    }
  }

  /** Opens the review grid filtered to exactly these samples. */
  function showInGrid(f: Partial<SampleFilter>, label: string | null = null): void {
    const review = useReviewStore();
    review.setFilter(gridFilter(f), f.ids ? label : null);
    app.setTab('review');
  }

  function showSelection(): void {
    const n = selection.value.length;
    if (n)
      showInGrid(
        { ids: [...selection.value] },
        `${n.toLocaleString('en-US')} image${n === 1 ? '' : 's'} selected on the embedding map`,
      );
  }

  /**
   * Keep one image of a duplicate pair: the other is marked a duplicate of it through
   * decisions.apply, so it is journaled, undoable and left out of the export and of training,
   * without calling it out-of-distribution.
   */
  async function keepOne(keep: DuplicateSide, drop: DuplicateSide): Promise<void> {
    const pid = projectId.value;
    if (!pid) return;
    try {
      const r = await transport().api.call('decisions.apply', {
        projectId: pid,
        ids: [drop.id],
        action: { kind: 'duplicate', of: keep.path },
      });
      dropped.value = new Set([...dropped.value, drop.id]);
      useReviewStore().reviewed = r.reviewed;
      app.notify('info', `Kept ${keep.path}; ${drop.path} is left out as its duplicate (undo in Review).`);
    } catch (e) {
      app.fail(e);
    }
  }

  function onEvent(e: ApiEvent): void {
    if (e.type === 'insights.progress' && e.projectId === projectId.value)
      umapProgress.value = { phase: e.phase, done: e.done, total: e.total };
    if (e.type === 'train.done' && e.state === 'done') comparison.value = null;
  }
  app.onEvent(onEvent);

  watch(
    () => [projectId.value, runId.value] as const,
    () => reset(),
  );

  return {
    view,
    colorBy,
    method,
    pca,
    umap,
    map,
    mapError,
    mapLoading,
    umapProgress,
    selection,
    health,
    healthError,
    dups,
    dupError,
    dupLoading,
    threshold,
    checkImages,
    maxHamming,
    maxPixelDiff,
    dropped,
    compareA,
    compareB,
    comparison,
    compareError,
    firstPaintMs,
    loadMap,
    painted,
    loadHealth,
    loadDuplicates,
    loadComparison,
    showInGrid,
    showSelection,
    keepOne,
    reset,
  };
});
