// App-level state: server info, recent projects, the open project, notices, and the single event
// subscription that fans events out to the other stores.
import { defineStore } from 'pinia';
import { ref, shallowRef, watch } from 'vue';
import type { ApiEvent, MethodResult, ProjectSummary } from '@shared/contract';
import { transport } from '../api/client';
import { toApiError } from '../api/errors';

export type Tab = 'train' | 'review' | 'insights';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

/** Location hash <-> (project root, tab), so a reload lands where the person was. */
export function parseHash(hash: string): { project: string | null; tab: Tab | null } {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const tab = q.get('tab');
  return { project: q.get('project'), tab: tab === 'train' || tab === 'review' || tab === 'insights' ? tab : null };
}

export function formatHash(project: string | null, tab: Tab): string {
  if (!project) return '';
  return '#' + new URLSearchParams({ project, tab }).toString();
}

type EventSink = (e: ApiEvent) => void;

/** How often a read-only window asks whether the other process has closed the project. */
export const ELSEWHERE_POLL_MS = 5000;

export const useAppStore = defineStore('app', () => {
  const info = shallowRef<MethodResult<'app.info'> | null>(null);
  const recent = shallowRef<MethodResult<'projects.recent'>>([]);
  const project = shallowRef<ProjectSummary | null>(null);
  const tab = ref<Tab>('train');
  const opening = ref(false);
  /** Images the scan of the folder being opened has found so far (null when not scanning). */
  const scanFound = ref<number | null>(null);
  let openingPath: string | null = null;
  const notices = ref<Notice[]>([]);
  const ready = ref(false);
  const help = ref(false); //          keyboard help overlay
  const openDialog = ref(false); //    "Open folder…" from the header
  /** Why the last open failed, shown next to the path field (not only as a passing notice). */
  const openError = ref<string | null>(null);
  const sinks = new Set<EventSink>();
  let unsubscribe: (() => void) | null = null;
  let noticeId = 0;

  function notify(kind: Notice['kind'], text: string, ms = kind === 'error' ? 8000 : 3000): void {
    const id = ++noticeId;
    notices.value = [...notices.value.slice(-3), { id, kind, text }];
    setTimeout(() => dismiss(id), ms);
  }
  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id);
  }
  function fail(err: unknown): void {
    notify('error', toApiError(err).message);
  }

  /** Other stores register here; one API subscription serves them all. */
  function onEvent(sink: EventSink): () => void {
    sinks.add(sink);
    return () => sinks.delete(sink);
  }

  function syncHash(): void {
    if (typeof window === 'undefined') return; // unit tests run without a page
    const h = formatHash(project.value?.root ?? null, tab.value);
    if (h !== window.location.hash)
      window.history.replaceState(null, '', window.location.pathname + window.location.search + h);
  }

  async function init(): Promise<void> {
    const { api } = transport();
    unsubscribe?.();
    unsubscribe = api.on((e) => {
      if (e.type === 'scan.progress' && opening.value && e.total === 0) scanFound.value = e.done;
      for (const s of sinks) s(e);
    });
    try {
      const [i, r] = await Promise.all([api.call('app.info', {}), api.call('projects.recent', {})]);
      info.value = i;
      recent.value = r;
    } catch (err) {
      fail(err);
    }
    const fromHash = parseHash(window.location.hash);
    if (fromHash.tab) tab.value = fromHash.tab;
    const served = new URL(window.location.href).searchParams.get('project'); // `mopro serve --dataset`
    if (fromHash.project) await open(fromHash.project, fromHash.tab);
    else if (served) await openById(served);
    ready.value = true;
  }

  async function open(path: string, preferTab: Tab | null = null): Promise<boolean> {
    const p = path.trim();
    if (!p) {
      openError.value = 'Type the path of a dataset folder (one sub-folder per class).';
      return false;
    }
    opening.value = true;
    openingPath = p;
    scanFound.value = 0;
    openError.value = null;
    try {
      const summary = await transport().api.call('projects.open', { path: p });
      project.value = summary;
      tab.value = preferTab ?? (summary.activeRunId ? 'review' : 'train');
      openDialog.value = false;
      syncHash();
      if (summary.skipped.length)
        notify('info', `${summary.skipped.length} file(s) skipped while scanning (see the Train panel).`);
      transport()
        .api.call('projects.recent', {})
        .then((r) => (recent.value = r))
        .catch(() => undefined);
      return true;
    } catch (err) {
      openError.value = toApiError(err).message;
      return false;
    } finally {
      opening.value = false;
      openingPath = null;
      scanFound.value = null;
    }
  }

  /** Stops the scan of the folder being opened (a huge or wrong folder); open() then shows "cancelled". */
  async function cancelOpen(): Promise<void> {
    if (!openingPath) return;
    await transport()
      .api.call('projects.cancelOpen', { path: openingPath })
      .catch((err: unknown) => fail(err));
  }

  async function openById(id: string): Promise<void> {
    try {
      const summary = await transport().api.call('projects.get', { projectId: id });
      project.value = summary;
      tab.value = summary.activeRunId ? 'review' : 'train';
      syncHash();
    } catch (err) {
      fail(err);
    }
  }

  async function openSample(): Promise<void> {
    const s = info.value?.sampleDataset;
    if (!s) return notify('error', 'This build has no bundled sample dataset.');
    await open(s);
  }

  async function pickFolder(): Promise<void> {
    const pick = transport().pickFolder;
    if (!pick) return;
    try {
      const dir = await pick();
      if (dir) await open(dir);
    } catch (err) {
      fail(err);
    }
  }

  async function refreshProject(): Promise<void> {
    if (!project.value) return;
    try {
      project.value = await transport().api.call('projects.get', { projectId: project.value.id });
    } catch (err) {
      fail(err);
    }
  }

  // Read-only because another process writes this project: look again now and then, quietly, so the
  // notice goes once that process has closed it (the server then takes the project over).
  let elsewhereTimer: ReturnType<typeof setInterval> | null = null;
  watch(
    () => project.value?.openElsewhere ?? null,
    (holder) => {
      if (holder && !elsewhereTimer) {
        elsewhereTimer = setInterval(() => {
          const p = project.value;
          if (p)
            transport()
              .api.call('projects.get', { projectId: p.id })
              .then((s) => {
                if (project.value?.id === s.id) project.value = s;
              })
              .catch(() => undefined);
        }, ELSEWHERE_POLL_MS);
      } else if (!holder && elsewhereTimer) {
        clearInterval(elsewhereTimer);
        elsewhereTimer = null;
      }
    },
  );

  async function setActiveRun(runId: string): Promise<void> {
    if (!project.value) return;
    try {
      project.value = await transport().api.call('projects.setActiveRun', { projectId: project.value.id, runId });
    } catch (err) {
      fail(err);
    }
  }

  function setTab(t: Tab): void {
    tab.value = t;
    syncHash();
  }

  function close(): void {
    project.value = null;
    syncHash();
  }

  return {
    info,
    recent,
    project,
    tab,
    opening,
    scanFound,
    cancelOpen,
    notices,
    ready,
    help,
    openDialog,
    openError,
    canPickFolder: () => transport().pickFolder !== null,
    notify,
    dismiss,
    fail,
    onEvent,
    init,
    open,
    openSample,
    pickFolder,
    refreshProject,
    setActiveRun,
    setTab,
    close,
  };
});
