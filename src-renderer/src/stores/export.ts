// The Export dialog: where, how (copy / hardlink / manifest), OOD or not, progress and outcome.
import { defineStore } from 'pinia';
import { computed, reactive, ref, shallowRef } from 'vue';
import type { ApiEvent, ExportSummary } from '@shared/contract';
import { transport } from '../api/client';
import { toApiError } from '../api/errors';
import { useAppStore } from './app';

export type ExportMode = 'copy' | 'hardlink' | 'manifest';

export const modeHelp: Record<ExportMode, string> = {
  copy: 'copy every kept image into <folder>/<final label>/, plus labels.csv',
  hardlink: 'same tree without using more disk (same drive only), plus labels.csv',
  manifest: 'only labels.csv: path, original label, final label, source',
};

export const useExportStore = defineStore('export', () => {
  const app = useAppStore();
  const open = ref(false);
  const form = reactive({ to: '', mode: 'copy' as ExportMode, includeOod: false });
  const jobId = ref<string | null>(null);
  const done = ref(0);
  const total = ref(0);
  const state = ref<'idle' | 'running' | 'done' | 'failed'>('idle');
  const error = ref<string | null>(null);
  const resultDir = ref<string | null>(null);
  const summary = shallowRef<ExportSummary | null>(null);
  // Events of a job can arrive before export.start answers with its id (a manifest export is done
  // by then): they wait here and are replayed once the id is known.
  let early: ApiEvent[] = [];

  const fraction = computed(() => (total.value > 0 ? done.value / total.value : state.value === 'done' ? 1 : 0));

  function show(): void {
    if (state.value !== 'running') {
      state.value = 'idle';
      error.value = null;
      resultDir.value = null;
      summary.value = null;
    }
    open.value = true;
  }
  /** Closing never waits for the job: a running export carries on and reports when it is done. */
  function hide(): void {
    open.value = false;
  }

  async function pickFolder(): Promise<void> {
    const t = transport();
    const dir = t.pickSaveFolder
      ? await t.pickSaveFolder(`${app.project?.name ?? 'dataset'}-clean`).catch(() => null)
      : t.pickFolder
        ? await t.pickFolder().catch(() => null)
        : null;
    if (dir) form.to = dir;
  }

  async function start(): Promise<void> {
    const p = app.project;
    if (!p) return;
    if (!form.to.trim()) {
      error.value = 'Choose an empty target folder (it is created if missing).';
      state.value = 'failed';
      return;
    }
    state.value = 'running';
    error.value = null;
    done.value = 0;
    total.value = 0;
    resultDir.value = null;
    summary.value = null;
    jobId.value = null;
    early = [];
    try {
      const r = await transport().api.call('export.start', {
        projectId: p.id,
        to: form.to.trim(),
        mode: form.mode,
        includeOod: form.includeOod,
      });
      jobId.value = r.jobId;
      const mine = early.filter((e) => 'jobId' in e && e.jobId === r.jobId);
      early = [];
      for (const e of mine) onEvent(e);
    } catch (err) {
      state.value = 'failed';
      error.value = toApiError(err).message;
    }
  }

  function onEvent(e: ApiEvent): void {
    if (e.type !== 'export.progress' && e.type !== 'export.done') return;
    if (jobId.value === null) {
      if (state.value === 'running') early.push(e);
      return;
    }
    if (e.jobId !== jobId.value || state.value !== 'running') return;
    if (e.type === 'export.progress') {
      done.value = e.done;
      total.value = e.total;
    } else {
      state.value = e.ok ? 'done' : 'failed';
      summary.value = e.summary ?? null;
      // Progress events are throttled, so the last one may fall short: a finished export is full.
      if (e.ok) done.value = total.value;
      error.value = e.ok ? null : (e.error ?? 'Export failed.');
      resultDir.value = e.dir;
      if (e.ok) app.notify('info', `Exported to ${e.dir}`);
      else if (!open.value) app.notify('error', `Export failed: ${error.value}`);
    }
  }
  app.onEvent(onEvent);

  return {
    canPick: () => transport().pickFolder !== null || transport().pickSaveFolder !== null,
    open,
    form,
    jobId,
    done,
    total,
    state,
    error,
    resultDir,
    summary,
    fraction,
    show,
    hide,
    pickFolder,
    start,
  };
});
