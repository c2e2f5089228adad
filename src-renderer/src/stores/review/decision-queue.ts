// Decisions of the review store, a composable: apply, undo and redo run one after another through
// one queue, and each lands the same way (counters, re-read rows, detail, status line).
//
// No optimistic UI: a decision is shown only after `decisions.apply` resolved (the server has
// flushed it to the journal by then) and the affected rows were re-read. Because the queue is
// serial and the target is read when a job's turn comes, a fast double key press acts on whatever
// is focused once the first decision landed.
import { ref, type Ref } from 'vue';
import type { DecisionAction, MoproApi } from '@shared/contract';

export interface DecisionCounters {
  reviewed: number;
  canUndo: boolean;
  canRedo: boolean;
}

export interface DecisionQueueDeps {
  /** The open project, or null (then every job does nothing). */
  projectId(): string | null;
  api(): Pick<MoproApi, 'call'>;
  /** Re-reads the rows on screen after the data changed under the same query. */
  refreshRows(): Promise<void>;
  /** Reloads the focused image's detail now. */
  showDetail(): void;
  /** The status line under the grid. */
  status: Ref<string>;
  fail(err: unknown): void;
}

/** What a decision applies to, read when its turn in the queue comes. */
export interface DecisionTarget {
  ids: number[];
  /** Runs once the rows were re-read and before the detail reloads (move focus on, clear the selection). */
  landed?: () => void;
}

const images = (n: number): string => (n === 1 ? '1 image' : `${n.toLocaleString('en-US')} images`);

/** The status line after a decision. */
export function describeAction(a: DecisionAction, n: number): string {
  const what = images(n);
  switch (a.kind) {
    case 'accept':
      return `Accepted the suggestion for ${what}`;
    case 'keep':
      return `Kept the given label for ${what}`;
    case 'override':
      return `Set ${what} to “${a.label}”`;
    case 'ood':
      return `Marked ${what} out-of-distribution`;
    case 'restore':
      return `Restored ${what} to the model's suggestion`;
    case 'duplicate':
      return `Left out ${what} as a duplicate`;
  }
}

/** Undo and redo differ only in the method and the words. */
const historySteps = {
  undo: {
    method: 'decisions.undo',
    done: (n: number) => `Undid the last action (${images(n)})`,
    none: 'Nothing to undo',
  },
  redo: {
    method: 'decisions.redo',
    done: (n: number) => `Redid ${images(n)}`,
    none: 'Nothing to redo',
  },
} as const;

export type HistoryStep = keyof typeof historySteps;

export function useDecisionQueue(deps: DecisionQueueDeps) {
  const reviewed = ref(0);
  const canUndo = ref(false);
  const canRedo = ref(false);
  /** A decision is on its way: its own change event must not trigger a second re-read. */
  const deciding = ref(false);
  let queue: Promise<void> = Promise.resolve();

  function enqueue(job: () => Promise<void>): Promise<void> {
    const next = queue.then(job, job);
    queue = next.catch(() => undefined);
    return next;
  }

  function setCounters(r: DecisionCounters): void {
    reviewed.value = r.reviewed;
    canUndo.value = r.canUndo;
    canRedo.value = r.canRedo;
  }

  /** The common ending of apply, undo and redo once the API answered. */
  async function land(r: DecisionCounters, status: string, landed?: () => void): Promise<void> {
    setCounters(r);
    await deps.refreshRows();
    landed?.();
    deps.showDetail();
    deps.status.value = status;
  }

  /** Applies `action` to the target that `target()` names when the job's turn comes (none: nothing). */
  function decide(action: DecisionAction, target: () => DecisionTarget | null): Promise<void> {
    return enqueue(async () => {
      const projectId = deps.projectId();
      if (!projectId) return;
      const t = target();
      if (!t || t.ids.length === 0) return;
      deciding.value = true;
      try {
        const r = await deps.api().call('decisions.apply', { projectId, ids: t.ids, action });
        await land(r, describeAction(action, r.applied), t.landed);
      } catch (err) {
        deps.fail(err);
      } finally {
        deciding.value = false;
      }
    });
  }

  /** Undo and redo: one implementation, the direction picks the method and the words. */
  function step(which: HistoryStep): Promise<void> {
    return enqueue(async () => {
      const projectId = deps.projectId();
      if (!projectId) return;
      const s = historySteps[which];
      try {
        const r = await deps.api().call(s.method, { projectId });
        const n = 'undone' in r ? r.undone : r.redone;
        await land(r, n ? s.done(n) : s.none);
      } catch (err) {
        deps.fail(err);
      }
    });
  }

  /** Counters from a change event (another window, the CLI, or the echo of our own decision). */
  function heard(e: DecisionCounters): void {
    const changed = e.reviewed !== reviewed.value || e.canUndo !== canUndo.value || e.canRedo !== canRedo.value;
    setCounters(e);
    if (changed && !deciding.value) void enqueue(deps.refreshRows);
  }

  return {
    reviewed,
    canUndo,
    canRedo,
    deciding,
    decide,
    undo: () => step('undo'),
    redo: () => step('redo'),
    heard,
    /** Resolves once every queued job has landed. */
    settled: (): Promise<void> => queue,
  };
}
