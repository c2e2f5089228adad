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
import type { Losses } from './losses';
import type { RunJson } from './run-json';

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
  // A near-identical copy of `of` (the image kept): left out of the exported tree and of training,
  // listed in labels.csv with source `duplicate`. Not an out-of-distribution judgement.
  z.object({ kind: z.literal('duplicate'), of: z.string().max(4096).optional() }),
]);
export type DecisionAction = z.infer<typeof DecisionAction>;

/**
 * Final source of a sample's label, as in export's labels.csv: `model` = the run's unreviewed
 * suggestion, `given` = the folder label with no model opinion (before any run, or a file added
 * since the run), `duplicate` = left out as a copy of another image.
 */
export type LabelSource = 'model' | 'given' | 'accepted' | 'overridden' | 'ood' | 'kept' | 'duplicate';
export const LABEL_SOURCES: readonly LabelSource[] = [
  'model',
  'given',
  'accepted',
  'overridden',
  'ood',
  'kept',
  'duplicate',
];

/** What an export wrote, per class and by where each label came from (shown by the Export dialog). */
export interface ExportSummary {
  mode: 'copy' | 'hardlink' | 'manifest';
  files: number; //            image files written (0 for manifest)
  manifestRows: number; //     rows in labels.csv
  perClass: { label: string; count: number; unreviewed: number }[]; // by final label; unreviewed = source model
  ood: number; //              images with no final label (OOD); `oodWritten` of them went to _ood/
  oodWritten: number;
  duplicates: number; //       left out as duplicates
  bySource: Record<LabelSource, number>;
}

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

/** The training method, backend choice, epoch order and status rule: each union is defined here once. */
export const TrainMethod = z.enum(['mopro', 'ce']);
export type TrainMethod = z.infer<typeof TrainMethod>;
export const BackendChoice = z.enum(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']);
export type BackendChoice = z.infer<typeof BackendChoice>;
export const Sampling = z.enum(['uniform', 'balanced']);
export type Sampling = z.infer<typeof Sampling>;
export const StatusRuleName = z.enum(['best', 'official']);
export type StatusRuleName = z.infer<typeof StatusRuleName>;

export const TrainConfig = z.object({
  method: TrainMethod.default('mopro'),
  epochs: z.number().int().min(1).max(1000).optional(),
  batchSize: z.number().int().min(2).max(4096).optional(),
  imageSize: z.number().int().min(8).max(512).optional(),
  backend: BackendChoice.default('auto'),
  seed: z.number().int().optional(),
  arch: z.string().max(64).optional(),
  /** Use the project's human decisions: confirmed labels fixed, confirmed OOD excluded. */
  useDecisions: z.boolean().default(false),
  /** Class-balanced sampling for class-imbalanced folders. */
  sampling: Sampling.default('uniform'),
  /** Optional self-supervised warm start (tile permutations) before training. */
  pretrain: z.enum(['none', 'permutation']).default('none'),
  /** Start from torchvision-layout weights: a .safetensors path or imagenet:resnet18 / imagenet:resnet50. */
  pretrained: z.string().min(1).max(4096).optional(),
  /** Train only the heads on backbone features computed once (with pretrained weights). */
  freezeBackbone: z.boolean().optional(),
  /** Start from an earlier run of this project (its encoder; --init). */
  initRun: z.string().min(1).max(200).optional(),
  /** samples.csv status rule: the measured best (default) or the official offline rule of mopro.md §2. */
  statusRule: StatusRuleName.default('best'),
  /** wasm: data-parallel replicas, one CPU core each (engine/train/data-parallel.ts); absent = one thread. */
  threads: z.number().int().min(1).max(64).optional(),
  /** The Train panel's preset, for the run's display name only. */
  preset: z.string().max(40).optional(),
});
export type TrainConfig = z.infer<typeof TrainConfig>;

export interface EpochStats {
  epoch: number; //            0-based
  loss: number; //             the weighted total
  losses: Losses; //           each term's mean (losses.ts: LossName)
  relabeled: number; //        samples relabeled during this epoch (online rule)
  ood: number; //              samples judged OOD during this epoch (online rule)
  imagesPerSec: number;
  seconds: number;
}

export interface RunSummary {
  id: string; //               folder name under the project's runs dir
  dir: string; //              absolute path of the run folder
  method: TrainMethod;
  state: 'running' | 'stopped' | 'done' | 'failed';
  createdAt: string;
  epochsDone: number;
  epochsTotal: number;
  backend: string | null;
  counts: { clean: number; relabeled: number; ood: number } | null; // from samples.csv, when done
  error?: string;
  /** What the run list shows: the person's name for it, else method, epochs, preset and start time. */
  name: string;
  /** A name the person gave (runs.rename), if any. */
  customName?: string;
  /** How samples.csv's statuses were made and whether the model was judged strong enough (run.json); absent for older runs. */
  suggestions?: RunSuggestions;
}

export interface RunSuggestions {
  statusRule: StatusRuleName;
  /** false: the model is too weak to judge the folder; the status column flags only a few images */
  trusted: boolean;
  reason: string;
  /** what to do when not trusted */
  advice: string | null;
  /** ood_score above which a sample is an OOD candidate (null: none by threshold) */
  oodThreshold: number | null;
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
  /** Another process has this project open for writing: decisions are refused here (read-only) until it closes. */
  openElsewhere?: { pid: number; host: string; since: string } | null;
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
  phase: 'download' | 'scan' | 'decode' | 'features' | 'pretrain' | 'train' | 'final-pass' | 'writing';
}

export type ApiEvent =
  | ProgressEvent
  | { type: 'train.epoch'; runId: string; stats: EpochStats }
  | { type: 'train.done'; runId: string; state: RunSummary['state']; error?: string }
  /** While projects.open scans `path`: `done` image files found so far; `total` stays 0 until the folders are listed. */
  | { type: 'scan.progress'; projectId: string; path?: string; done: number; total: number }
  | { type: 'export.progress'; jobId: string; done: number; total: number }
  | { type: 'export.done'; jobId: string; ok: boolean; error?: string; dir: string; summary?: ExportSummary }
  | { type: 'decisions.changed'; projectId: string; reviewed: number; canUndo: boolean; canRedo: boolean }
  | InsightsProgress;

// ---- insights: result shapes of the insights.* methods (issue 6)
export interface ClassHealthRow {
  label: string;
  count: number;
  relabeled: number;
  ood: number;
  noiseRate: number; //       relabeled / count (the run's estimate of label noise)
  oodRate: number; //         ood / count
  meanConfidence: number;
}

export interface Confusion {
  rows: string[]; //          given labels
  cols: (string | null)[]; // corrected labels; null = OOD (last column)
  counts: number[][]; //      rows x cols
}

export interface ClassHealth {
  classes: ClassHealthRow[];
  confusion: Confusion;
  total: number;
}

export interface ClassDelta {
  label: string;
  a: ClassHealthRow | null;
  b: ClassHealthRow | null;
  dNoiseRate: number;
  dOodRate: number;
  dMeanConfidence: number;
}

export interface EmbeddingMap {
  runId: string;
  method: 'pca' | 'umap';
  /** Points = rows 0..n-1 of the run's samples.csv = sample ids of the review grid. */
  n: number;
  /** n x 2 interleaved (x0, y0, x1, y1, ...). */
  points: number[];
  labels: string[]; //        vocabulary for given / corrected
  given: number[]; //         index into labels
  corrected: number[]; //     index into labels, -1 = OOD
  status: number[]; //        0 clean, 1 relabeled, 2 ood
  prototypes: { label: string; x: number; y: number }[];
  seconds: number; //         time the layout took on the server
}

export interface DuplicateSide {
  id: number;
  path: string;
  given: string;
}
export interface DuplicatePairInfo {
  a: DuplicateSide;
  b: DuplicateSide;
  cosine: number;
  sameClass: boolean; //      false = the same picture in two classes: a label conflict
  hamming: number | null; //  dHash bits that differ, when image hashes were checked
  pixelDiff: number | null; // mean absolute grey difference (0..255) of 16x16 thumbnails, when checked
}
export interface Duplicates {
  runId: string;
  threshold: number;
  exact: boolean; //          every pair checked (else LSH candidates, each checked exactly)
  maxHamming: number | null; // image-hash check applied, if any
  maxPixelDiff: number | null; // pixel check applied, if any
  candidates: number; //      embedding pairs considered before the image-hash check
  truncated: boolean; //      the image-hash check stopped at its time budget
  pairs: DuplicatePairInfo[];
  seconds: number;
}

export interface InsightsProgress {
  type: 'insights.progress';
  projectId: string;
  runId: string;
  phase: 'pca' | 'fit' | 'place';
  done: number;
  total: number;
}

/** One side of insights.compareRuns; health is null for a run without samples.csv (unfinished). */
export interface RunInsight {
  summary: RunSummary;
  epochs: EpochStats[];
  health: ClassHealthRow[] | null;
}
// ---- end insights

// ---- methods --------------------------------------------------------------------------------
const ProjectRef = z.object({ projectId: z.string().min(1).max(200) });
const PathArg = z.string().min(1).max(4096);

export const methods = {
  'app.info': z.object({}),
  'projects.recent': z.object({}),
  'projects.open': z.object({ path: PathArg }),
  /** Cancels a projects.open still scanning `path`; that call fails with "scan ... cancelled". */
  'projects.cancelOpen': z.object({ path: PathArg }),
  'projects.get': ProjectRef,
  'projects.setActiveRun': ProjectRef.extend({ runId: z.string().min(1).max(200) }),
  'train.start': ProjectRef.extend({ config: TrainConfig }),
  'train.stop': z.object({ runId: z.string().min(1).max(200) }),
  'train.resume': z.object({ runId: z.string().min(1).max(200) }),
  'runs.get': z.object({ runId: z.string().min(1).max(200) }),
  /** Deletes a run folder of the project (not a running one, not one opened from elsewhere). */
  'runs.delete': ProjectRef.extend({ runId: z.string().min(1).max(200) }),
  /** A display name for a run (empty = back to the generated one); the folder keeps its id. */
  'runs.rename': ProjectRef.extend({ runId: z.string().min(1).max(200), name: z.string().max(120) }),
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
  // ---- insights (issue 6): embedding map, class health, near duplicates, run comparison
  /** 2-D layout of the active run's embeddings; 'umap' takes seconds and emits insights.progress. */
  'insights.embedding': ProjectRef.extend({ method: z.enum(['pca', 'umap']).default('pca') }),
  /** Per-class numbers and the given -> corrected confusion matrix (default: the active run). */
  'insights.classHealth': ProjectRef.extend({ runId: z.string().min(1).max(200).optional() }),
  /**
   * Pairs of the active run whose embeddings have cosine >= threshold; with maxHamming, only pairs
   * whose images' 64-bit dHash differ in at most that many bits (the same picture, not a look-alike).
   */
  'insights.duplicates': ProjectRef.extend({
    threshold: z.number().min(0.5).max(1).default(0.98),
    maxPairs: z.number().int().min(1).max(10_000).default(500),
    maxHamming: z.number().int().min(0).max(64).optional(),
    /** With maxHamming: also require the 16x16 grey thumbnails to differ by at most this (0..255) on average. */
    maxPixelDiff: z.number().min(0).max(255).optional(),
  }),
  'insights.compareRuns': ProjectRef.extend({ runA: z.string().min(1).max(200), runB: z.string().min(1).max(200) }),
  // ---- end insights
} as const;

export type MethodName = keyof typeof methods;
export type MethodInput<M extends MethodName> = z.input<(typeof methods)[M]>;
export type MethodParsed<M extends MethodName> = z.output<(typeof methods)[M]>;

export interface MethodResults {
  'app.info': {
    version: string;
    mode: 'electron' | 'browser';
    sampleDataset: string | null;
    /** Training backends that load here ('auto' first). */
    backends: string[];
    /** Backends that do not load here, and why (shown beside the backend choice). */
    unavailableBackends: { name: string; why: string }[];
  };
  'projects.recent': { path: string; name: string; openedAt: string }[];
  'projects.open': ProjectSummary;
  'projects.cancelOpen': { cancelled: number };
  'projects.get': ProjectSummary;
  'projects.setActiveRun': ProjectSummary;
  'train.start': { runId: string };
  'train.stop': { ok: true };
  'train.resume': { runId: string };
  'runs.get': { summary: RunSummary; epochs: EpochStats[]; runJson: RunJson | null };
  'runs.delete': ProjectSummary;
  'runs.rename': ProjectSummary;
  'samples.query': { total: number; rows: SampleRow[] };
  'samples.ids': { ids: number[] };
  'samples.get': SampleDetail;
  'decisions.apply': { applied: number; reviewed: number; canUndo: boolean; canRedo: boolean };
  'decisions.undo': { undone: number; reviewed: number; canUndo: boolean; canRedo: boolean };
  'decisions.redo': { redone: number; reviewed: number; canUndo: boolean; canRedo: boolean };
  'export.start': { jobId: string };
  // ---- insights
  'insights.embedding': EmbeddingMap;
  'insights.classHealth': ClassHealth & { runId: string };
  'insights.duplicates': Duplicates;
  'insights.compareRuns': { a: RunInsight; b: RunInsight; deltas: ClassDelta[] };
  // ---- end insights
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

/**
 * Error codes every transport carries, the one list the server's status map, IPC and the renderer derive from.
 * UNAVAILABLE: nothing was changed and the same call may work later (e.g. the disk was full).
 */
export const ApiErrorCode = z.enum(['BAD_INPUT', 'NOT_FOUND', 'CONFLICT', 'FORBIDDEN', 'UNAVAILABLE', 'INTERNAL']);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

/** Errors crossing a transport carry a code the UI can act on. */
export interface ApiErrorShape {
  code: ApiErrorCode;
  message: string;
}
