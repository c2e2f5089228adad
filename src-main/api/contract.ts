// The ONE typed API contract of MoPro Studio, shared by main, preload, server and renderer.
//
// Every method has a zod schema for its input (validated at every transport edge: Electron IPC
// and the HTTP server) and a TypeScript result type. Events flow the other way (main -> UI).
// Transports:
//   - Electron: preload exposes `window.mopro.call(method, input)` / `window.mopro.on(listener)`.
//   - Browser:  POST /api/<method> with a JSON body and header `x-mopro-token`; events over a
//               WebSocket at /api/events?token=... . Both implemented in src-main/server/.
// This file must stay importable from the renderer: zod only, no Node imports.
import { z } from 'zod';

// ---- shared shapes ------------------------------------------------------------------------
export const SampleStatus = z.enum(['clean', 'relabeled', 'ood']);
export type SampleStatus = z.infer<typeof SampleStatus>;

/** What a person decided about one sample. `restore` clears an earlier decision. */
export const DecisionAction = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('accept') }), //          take the model's suggestion (relabel or OOD)
  z.object({ kind: z.literal('keep') }), //            keep the given (folder) label
  z.object({ kind: z.literal('override'), label: z.string().min(1).max(200) }),
  z.object({ kind: z.literal('ood') }), //             not in any class
  z.object({ kind: z.literal('restore') }), //         forget the decision, back to the model's word
]);
export type DecisionAction = z.infer<typeof DecisionAction>;

/** Final source of a sample's label, as in export's labels.csv. */
export type LabelSource = 'model' | 'accepted' | 'overridden' | 'ood' | 'kept';

export interface SampleRow {
  id: number; //                 row index in the run's samples.csv (stable for a run)
  path: string; //               relative to the dataset root, '/' separators
  given: string;
  suggested: string | null; //   model's corrected label (null when the model says OOD)
  status: SampleStatus; //       model's status
  confidence: number;
  oodScore: number;
  decision: DecisionAction | null; // latest human decision, if any
  finalLabel: string | null; //  label after human decisions (null = OOD / excluded)
  source: LabelSource;
}

export const SampleFilter = z.object({
  view: z.enum(['all', 'relabeled', 'ood', 'clean', 'suggestions', 'unreviewed', 'reviewed']).default('all'),
  given: z.string().max(200).optional(), //     given-label class
  suggested: z.string().max(200).optional(),
  minConfidence: z.number().min(0).max(1).optional(),
  maxConfidence: z.number().min(0).max(1).optional(),
  minOod: z.number().min(0).max(1).optional(),
  maxOod: z.number().min(0).max(1).optional(),
  search: z.string().max(500).optional(), //    substring of the path
  ids: z.array(z.number().int().nonnegative()).max(200_000).optional(), // e.g. a lasso selection
});
export type SampleFilter = z.infer<typeof SampleFilter>;

export const SampleSort = z.object({
  key: z.enum(['path', 'confidence', 'oodScore', 'given', 'suggested']).default('path'),
  dir: z.enum(['asc', 'desc']).default('asc'),
});
export type SampleSort = z.infer<typeof SampleSort>;

export const TrainConfig = z.object({
  method: z.enum(['mopro', 'ce']).default('mopro'),
  epochs: z.number().int().min(1).max(1000).optional(),
  batchSize: z.number().int().min(2).max(4096).optional(),
  imageSize: z.number().int().min(8).max(512).optional(),
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  seed: z.number().int().optional(),
  arch: z.string().max(64).optional(),
  /** Use the project's human decisions: confirmed labels fixed, confirmed OOD excluded. */
  useDecisions: z.boolean().default(false),
});
export type TrainConfig = z.infer<typeof TrainConfig>;

export interface EpochStats {
  epoch: number; //            0-based
  loss: number;
  lossCe: number;
  lossIns: number;
  lossPro: number;
  relabeled: number; //        samples relabeled during this epoch (online rule)
  ood: number; //              samples judged OOD during this epoch (online rule)
  imagesPerSec: number;
  seconds: number;
}

export interface RunSummary {
  id: string; //               folder name under the project's runs dir
  dir: string; //              absolute path of the run folder
  method: 'mopro' | 'ce';
  state: 'running' | 'stopped' | 'done' | 'failed';
  createdAt: string;
  epochsDone: number;
  epochsTotal: number;
  backend: string | null;
  counts: { clean: number; relabeled: number; ood: number } | null; // from samples.csv, when done
  error?: string;
}

export interface ProjectSummary {
  id: string; //               stable id derived from the dataset's absolute path
  root: string; //             dataset folder (absolute)
  name: string;
  classes: string[];
  imageCount: number;
  skipped: { path: string; reason: string }[];
  runs: RunSummary[];
  activeRunId: string | null; // the run whose suggestions the grid shows
  reconcile: { added: number; removed: number; kept: number } | null; // changes on disk since the run
  reviewed: number; //         samples with a human decision
}

export interface SampleDetail extends SampleRow {
  classScores: { label: string; score: number }[]; // soft label q over classes, sorted desc
  width?: number;
  height?: number;
  history: { at: string; action: DecisionAction }[];
}

export interface ProgressEvent {
  type: 'train.progress';
  runId: string;
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSec: number;
  etaSeconds: number | null;
  phase: 'scan' | 'decode' | 'train' | 'final-pass' | 'writing';
}

export type ApiEvent =
  | ProgressEvent
  | { type: 'train.epoch'; runId: string; stats: EpochStats }
  | { type: 'train.done'; runId: string; state: RunSummary['state']; error?: string }
  | { type: 'scan.progress'; projectId: string; done: number; total: number }
  | { type: 'export.progress'; jobId: string; done: number; total: number }
  | { type: 'export.done'; jobId: string; ok: boolean; error?: string; dir: string }
  | { type: 'decisions.changed'; projectId: string; reviewed: number; canUndo: boolean; canRedo: boolean };

// ---- methods --------------------------------------------------------------------------------
const ProjectRef = z.object({ projectId: z.string().min(1).max(200) });
const PathArg = z.string().min(1).max(4096);

export const methods = {
  'app.info': z.object({}),
  'projects.recent': z.object({}),
  'projects.open': z.object({ path: PathArg }),
  'projects.get': ProjectRef,
  'projects.setActiveRun': ProjectRef.extend({ runId: z.string().min(1).max(200) }),
  'train.start': ProjectRef.extend({ config: TrainConfig }),
  'train.stop': z.object({ runId: z.string().min(1).max(200) }),
  'train.resume': z.object({ runId: z.string().min(1).max(200) }),
  'runs.get': z.object({ runId: z.string().min(1).max(200) }),
  'samples.query': ProjectRef.extend({
    filter: SampleFilter.default({ view: 'all' }),
    sort: SampleSort.default({ key: 'path', dir: 'asc' }),
    offset: z.number().int().min(0).default(0),
    limit: z.number().int().min(1).max(5000).default(200),
  }),
  /** All ids matching a filter (for "select all in filter"). */
  'samples.ids': ProjectRef.extend({ filter: SampleFilter.default({ view: 'all' }) }),
  'samples.get': ProjectRef.extend({ id: z.number().int().nonnegative() }),
  'decisions.apply': ProjectRef.extend({
    ids: z.array(z.number().int().nonnegative()).min(1).max(200_000),
    action: DecisionAction,
  }),
  'decisions.undo': ProjectRef,
  'decisions.redo': ProjectRef,
  'export.start': ProjectRef.extend({
    to: PathArg,
    mode: z.enum(['copy', 'hardlink', 'manifest']).default('copy'),
    includeOod: z.boolean().default(false),
  }),
} as const;

export type MethodName = keyof typeof methods;
export type MethodInput<M extends MethodName> = z.input<(typeof methods)[M]>;
export type MethodParsed<M extends MethodName> = z.output<(typeof methods)[M]>;

export interface MethodResults {
  'app.info': { version: string; mode: 'electron' | 'browser'; sampleDataset: string | null; backends: string[] };
  'projects.recent': { path: string; name: string; openedAt: string }[];
  'projects.open': ProjectSummary;
  'projects.get': ProjectSummary;
  'projects.setActiveRun': ProjectSummary;
  'train.start': { runId: string };
  'train.stop': { ok: true };
  'train.resume': { runId: string };
  'runs.get': { summary: RunSummary; epochs: EpochStats[]; runJson: unknown };
  'samples.query': { total: number; rows: SampleRow[] };
  'samples.ids': { ids: number[] };
  'samples.get': SampleDetail;
  'decisions.apply': { applied: number; reviewed: number; canUndo: boolean; canRedo: boolean };
  'decisions.undo': { undone: number; reviewed: number; canUndo: boolean; canRedo: boolean };
  'decisions.redo': { redone: number; reviewed: number; canUndo: boolean; canRedo: boolean };
  'export.start': { jobId: string };
}
export type MethodResult<M extends MethodName> = MethodResults[M];

/** The API as every transport exposes it to the renderer. */
export interface MoproApi {
  call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodResult<M>>;
  /** Subscribe to events; returns an unsubscribe function. */
  on(listener: (e: ApiEvent) => void): () => void;
  /** URL for an image inside the open dataset (`thumb` = cached 128-px thumbnail). */
  imageUrl(projectId: string, relPath: string, kind: 'thumb' | 'full'): string;
}

/** Errors crossing a transport carry a code the UI can act on. */
export interface ApiErrorShape {
  code: 'BAD_INPUT' | 'NOT_FOUND' | 'CONFLICT' | 'FORBIDDEN' | 'INTERNAL';
  message: string;
}
