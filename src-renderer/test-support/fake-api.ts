// In-memory MoproApi for renderer unit tests. NOT shipped: only *.test.ts files import it.
// Implements the contract's semantics closely enough to drive the stores: filtering, sorting,
// paging, decisions with undo/redo, events. `gate` lets a test hold an answer back to prove the
// UI shows nothing before the API confirmed.
import type {
  ApiEvent,
  DecisionAction,
  LabelSource,
  MethodInput,
  MethodName,
  MethodResult,
  MoproApi,
  ProjectSummary,
  SampleDetail,
  SampleFilter,
  SampleRow,
  SampleSort,
} from '@shared/contract';
import { reviewFilterMatcher } from '@shared/review-filter';
import { Rng } from '@shared/rng';

export interface FakeOptions {
  n: number;
  classes?: string[];
  seed?: number;
}

function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

type Base = Omit<SampleRow, 'decision' | 'finalLabel' | 'source'>;

export class FakeApi implements MoproApi {
  readonly classes: string[];
  readonly base: Base[];
  readonly decisions = new Map<number, DecisionAction>();
  private undoStack: { ids: number[]; before: (DecisionAction | undefined)[]; action: DecisionAction }[] = [];
  private redoStack: typeof this.undoStack = [];
  private listeners = new Set<(e: ApiEvent) => void>();
  readonly calls: { method: MethodName; input: unknown }[] = [];
  /** When set, every call waits for this promise before answering. */
  gate: Promise<void> | null = null;
  readonly projectId = 'p-fake';

  constructor(opts: FakeOptions) {
    this.classes = opts.classes ?? [
      'ankle_boot',
      'bag',
      'coat',
      'dress',
      'pullover',
      'sandal',
      'shirt',
      'sneaker',
      'top',
      'trouser',
    ];
    const r = rng(opts.seed ?? 7);
    this.base = Array.from({ length: opts.n }, (_, id) => {
      const given = this.classes[id % this.classes.length]!;
      const u = r();
      const status = u < 0.1 ? 'ood' : u < 0.3 ? 'relabeled' : 'clean';
      const other = this.classes[(id + 1) % this.classes.length]!;
      return {
        id,
        path: `${given}/img_${String(id).padStart(6, '0')}.png`,
        given,
        suggested: status === 'ood' ? null : status === 'relabeled' ? other : given,
        status,
        confidence: Math.round(r() * 1000) / 1000,
        oodScore: status === 'ood' ? 0.5 + r() / 2 : r() / 2,
      } as Base;
    });
  }

  row(id: number): SampleRow {
    const b = this.base[id]!;
    const d = this.decisions.get(id) ?? null;
    let finalLabel: string | null = b.suggested;
    let source: LabelSource = 'model';
    if (d?.kind === 'accept') ((finalLabel = b.suggested), (source = 'accepted'));
    else if (d?.kind === 'keep') ((finalLabel = b.given), (source = 'kept'));
    else if (d?.kind === 'override') ((finalLabel = d.label), (source = 'overridden'));
    else if (d?.kind === 'ood') ((finalLabel = null), (source = 'ood'));
    return { ...b, decision: d, finalLabel, source };
  }

  private list(f: SampleFilter, s: SampleSort = { key: 'path', dir: 'asc' }): SampleRow[] {
    // The real query engine's matcher, so a store test sees the rows the app would show.
    const rows = this.base.map((b) => this.row(b.id)).filter(reviewFilterMatcher(f));
    const k = s.key ?? 'path';
    const sign = s.dir === 'desc' ? -1 : 1;
    rows.sort((a, b) => {
      const x = a[k] ?? '';
      const y = b[k] ?? '';
      return (x < y ? -1 : x > y ? 1 : a.id - b.id) * sign;
    });
    return rows;
  }

  get reviewed(): number {
    return this.decisions.size;
  }

  summary(): ProjectSummary {
    return {
      id: this.projectId,
      root: '/data/fake',
      name: 'fake',
      classes: this.classes,
      imageCount: this.base.length,
      skipped: [],
      runs: [
        {
          id: 'run-1',
          dir: '/runs/run-1',
          method: 'mopro',
          state: 'done',
          createdAt: '2026-01-01T00:00:00Z',
          epochsDone: 2,
          epochsTotal: 2,
          backend: 'wasm',
          counts: { clean: 0, relabeled: 0, ood: 0 },
          name: 'MoPro · 2 epochs · 2026-01-01 00:00',
        },
      ],
      activeRunId: 'run-1',
      reconcile: null,
      reviewed: this.reviewed,
    };
  }

  emit(e: ApiEvent): void {
    for (const l of this.listeners) l(e);
  }

  private counters() {
    return { reviewed: this.reviewed, canUndo: this.undoStack.length > 0, canRedo: this.redoStack.length > 0 };
  }

  private set(ids: number[], actions: (DecisionAction | undefined)[]): void {
    ids.forEach((id, i) => {
      const a = actions[i];
      if (!a || a.kind === 'restore') this.decisions.delete(id);
      else this.decisions.set(id, a);
    });
  }

  async call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodResult<M>> {
    this.calls.push({ method, input });
    if (this.gate) await this.gate;
    const i = input as Record<string, unknown>;
    const out = ((): unknown => {
      switch (method) {
        case 'app.info':
          return {
            version: '0.0.0-test',
            mode: 'browser',
            sampleDataset: '/sample',
            backends: ['auto', 'wasm', 'cpu'],
            unavailableBackends: [],
          };
        case 'projects.recent':
          return [];
        case 'projects.cancelOpen':
          return { cancelled: 0 };
        case 'projects.open':
        case 'projects.get':
        case 'projects.setActiveRun':
          return this.summary();
        case 'samples.query': {
          const rows = this.list((i.filter as SampleFilter) ?? { view: 'all' }, i.sort as SampleSort);
          const off = (i.offset as number) ?? 0;
          return { total: rows.length, rows: rows.slice(off, off + ((i.limit as number) ?? 200)) };
        }
        case 'samples.ids':
          return { ids: this.list((i.filter as SampleFilter) ?? { view: 'all' }).map((r) => r.id) };
        case 'samples.get': {
          const r = this.row(i.id as number);
          const detail: SampleDetail = {
            ...r,
            classScores: this.classes
              .map((label) => ({ label, score: label === r.suggested ? 0.9 : 0.01 }))
              .sort((a, b) => b.score - a.score),
            history: [],
          };
          return detail;
        }
        case 'decisions.apply': {
          const ids = i.ids as number[];
          const action = i.action as DecisionAction;
          this.undoStack.push({ ids, before: ids.map((id) => this.decisions.get(id)), action });
          this.redoStack = [];
          this.set(
            ids,
            ids.map(() => action),
          );
          const c = this.counters();
          this.emit({ type: 'decisions.changed', projectId: this.projectId, ...c });
          return { applied: ids.length, ...c };
        }
        case 'decisions.undo': {
          const last = this.undoStack.pop();
          if (last) {
            this.set(last.ids, last.before);
            this.redoStack.push(last);
          }
          return { undone: last?.ids.length ?? 0, ...this.counters() };
        }
        case 'decisions.redo': {
          const last = this.redoStack.pop();
          if (last) {
            this.set(
              last.ids,
              last.ids.map(() => last.action),
            );
            this.undoStack.push(last);
          }
          return { redone: last?.ids.length ?? 0, ...this.counters() };
        }
        case 'runs.get':
          return { summary: this.summary().runs[0], epochs: [], runJson: null };
        case 'train.start':
          return { runId: 'run-2' };
        case 'train.stop':
          return { ok: true };
        case 'train.resume':
          return { runId: i.runId };
        case 'export.start':
          return { jobId: 'job-1' };
        default:
          // A method the fake does not know must fail loudly, not answer undefined.
          throw new Error(`FakeApi: ${method} is not implemented; add it to test-support/fake-api.ts`);
      }
    })();
    return structuredClone(out) as MethodResult<M>;
  }

  on(listener: (e: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  imageUrl(projectId: string, relPath: string, kind: 'thumb' | 'full'): string {
    return `fake://${projectId}/${kind}/${relPath}`;
  }
}
