// App-level state: server info, recent projects, the open project, notices, and the single event
// subscription that fans events out to the other stores.
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { ApiEvent, MethodResult, ProjectSummary } from '../../../src-main/api/contract';
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

export const useAppStore = defineStore('app', () => {
  const info = shallowRef<MethodResult<'app.info'> | null>(null);
  const recent = shallowRef<MethodResult<'projects.recent'>>([]);
  const project = shallowRef<ProjectSummary | null>(null);
  const tab = ref<Tab>('train');
  const opening = ref(false);
  const notices = ref<Notice[]>([]);
  const ready = ref(false);
  const help = ref(false); //          keyboard help overlay
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
    if (h !== window.location.hash) window.history.replaceState(null, '', window.location.pathname + window.location.search + h);
  }

  async function init(): Promise<void> {
    const { api } = transport();
    unsubscribe?.();
    unsubscribe = api.on((e) => {
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
      notify('error', 'Type the path of a dataset folder (one sub-folder per class).');
      return false;
    }
    opening.value = true;
    try {
      const summary = await transport().api.call('projects.open', { path: p });
      project.value = summary;
      tab.value = preferTab ?? (summary.activeRunId ? 'review' : 'train');
      syncHash();
      if (summary.skipped.length) notify('info', `${summary.skipped.length} file(s) skipped while scanning (see the Train panel).`);
      transport()
        .api.call('projects.recent', {})
        .then((r) => (recent.value = r))
        .catch(() => undefined);
      return true;
    } catch (err) {
      fail(err);
      return false;
    } finally {
      opening.value = false;
    }
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
    notices,
    ready,
    help,
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
