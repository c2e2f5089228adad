// run.json, what a run folder says about how it was made (design.md §3 "Run folder"), as one zod schema. Its
// writers (the engine's training and cRT, `mopro import-official`, the PyTorch job of `mopro job`, a failed job's
// marker, predict's evaluations) type what they write with RunJsonInput; the project layer, the renderer and the
// test fixtures read it with parseRunJson. The keys the app reads are typed. Other top-level keys a writer records
// (normalisation, memory, throughput, ...) pass through; inside a typed section only the typed keys are read (the
// file keeps the rest). Sections are plain objects, not index signatures, so writers can hand over their interfaces.
import { z } from 'zod';
import { StatusRuleName, TrainMethod } from './contract';
import { Losses, withLossRecord } from './losses';

export const RUN_JSON_VERSION = 1;

export const RunState = z.enum(['running', 'stopped', 'done', 'failed']);
export type RunState = z.infer<typeof RunState>;

/** JSON has no NaN: JSON.stringify writes a diverged loss as null, and it reads back as NaN. */
const lossValue = z
  .number()
  .nullable()
  .transform((v) => v ?? NaN);

/** One epoch of training, the contract's EpochStats. Fields a writer adds (the PyTorch job: lr, steps, ...) stay in
 *  the file but are not read. */
export const EpochRecord = z.object({
  epoch: z.number().int(), // 0-based
  loss: lossValue,
  losses: Losses,
  relabeled: z.number(),
  ood: z.number(),
  imagesPerSec: z.number(),
  seconds: z.number(),
});

/** One `mopro predict` on a labelled folder; the first ones recorded had no folder or crop count. */
const Evaluation = z.object({
  folder: z.string().default(''),
  crops: z.number().default(1),
  images: z.number().optional(),
  accuracy: z.number(),
  ece: z.number(),
  mce: z.number().optional(),
  /** the summary JSON with the reliability diagram */
  summary: z.string().nullable().optional(),
  at: z.string().optional(),
});
export type RunEvaluation = z.input<typeof Evaluation>;

const Counts = z.object({ clean: z.number(), relabeled: z.number(), ood: z.number() });

/** A section only some runs have, and only the app's displays read: one that does not fit reads as absent. */
const section = <T extends z.ZodType>(t: T) => t.optional().catch(undefined);

export const RunJson = z.looseObject({
  version: z.literal(RUN_JSON_VERSION),
  state: RunState,
  method: TrainMethod,
  /** the dataset folder (absolute) */
  dataset: z.string(),
  /** the run folder when it was written */
  out: z.string(),
  createdAt: z.string(),
  /** the engine's whole configuration; `epochs` is the planned count */
  config: z.object({ method: TrainMethod, epochs: z.number().int(), seed: z.number().int().optional() }),
  /** how the run departs from the paper, one line each */
  adaptations: z.array(z.string()).optional(),
  backend: z.object({
    name: z.string(),
    reason: z.string(),
    skipped: z.array(z.object({ name: z.string(), why: z.string() })),
  }),
  datasetSummary: z.object({
    classes: z.array(z.string()),
    counts: z.array(z.number()),
    images: z.number(),
    used: z.number(),
    skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
    warnings: z.array(z.string()),
    /** of the dataset's files, to tell a resumed run it is the same dataset */
    fingerprint: z.string().optional(),
    /** human decisions the run was trained with */
    fixedLabels: z.number().optional(),
    excluded: z.number().optional(),
  }),
  epochs: z.array(EpochRecord),
  /** why the run failed (a failed job's marker) */
  error: z.string().optional(),
  /** samples.csv's status counts (a finished run) */
  counts: section(Counts),
  /** the rule that wrote samples.csv's statuses (the final pass) */
  statusRule: section(z.object({ name: StatusRuleName, oodThreshold: z.number().nullable() })),
  /** whether the model was judged strong enough to make suggestions */
  suggestions: section(
    z.object({ trusted: z.boolean(), reason: z.string().optional(), advice: z.string().nullable().optional() }),
  ),
  /** class-balanced or uniform sampling: per-class rows before, expected and drawn in the first epoch */
  sampling: section(
    z.object({
      mode: z.string(),
      classes: z.array(z.string()),
      before: z.array(z.number()),
      expectedPerEpoch: z.array(z.number()).optional(),
      drawnFirstEpoch: z.array(z.number()).nullable().optional(),
    }),
  ),
  /** --init: the run whose encoder this one started from */
  init: section(
    z.object({ run: z.string(), copied: z.number(), skipped: z.array(z.string()), classifier: z.string() }),
  ),
  /** the self-supervised permutation warm start */
  pretrain: section(
    z.object({
      task: z.literal('permutation'),
      grid: z.number(),
      epochs: z.number(),
      seconds: z.number(),
      history: z.array(z.object({ epoch: z.number(), loss: lossValue, accuracy: z.number(), seconds: z.number() })),
    }),
  ),
  /** classifier re-training (cRT): the run it came from */
  crt: section(z.object({ from: z.string(), trainRows: z.number() })),
  /** `mopro predict` on labelled folders: top-1 accuracy and calibration (an entry that does not fit reads as undefined) */
  evaluations: section(z.array(Evaluation.optional().catch(undefined))),
});
/** run.json as read: losses as a record, NaN for a diverged loss, sections that do not fit left out. */
export type RunJson = z.output<typeof RunJson>;
/** run.json as a writer builds it (what JSON.stringify gets). */
export type RunJsonInput = z.input<typeof RunJson>;

/**
 * The one migration of older run.json files, applied before the schema. Two kinds exist:
 * - Epoch records with the loss terms as flat fields (lossCe, lossIns, lossPro: the engine before the loss record,
 *   and the PyTorch job's): lifted into `losses` (losses.ts withLossRecord).
 * - Files without `version`, from before the format was fixed (the test fixtures wrote them): the dataset as
 *   `dataset.root`, `config.dataset` or `datasetRoot`; the classes as `classes`, `dataset.classes` or
 *   `model.classes`; the epochs under `training.epochs`; the start time as `startedAt` or `times.startedAt`;
 *   the method and planned epochs beside the config (`method`, `epochsTotal`); the backend as a bare name.
 *   They become version 1; what they never recorded reads empty ('' for a dataset, start time or backend they
 *   lack, no skipped files, no per-class counts); a file without a `state` is not a run summary.
 * `dir` is the run folder, for the `out` such a file lacks.
 */
export function migrateRunJson(raw: unknown, dir: string): unknown {
  if (!isObject(raw)) return raw;
  let j: Record<string, unknown> = raw;
  if (j.version === undefined) j = fromUnversioned(j, dir);
  return Array.isArray(j.epochs)
    ? { ...j, epochs: j.epochs.map((e: unknown) => (isObject(e) ? withLossRecord(e) : e)) }
    : j;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function fromUnversioned(j: Record<string, unknown>, dir: string): Record<string, unknown> {
  const obj = (v: unknown) => (isObject(v) ? v : {});
  const first = <T>(guard: (v: unknown) => v is T, ...vs: unknown[]): T | undefined => vs.find(guard);
  const isString = (v: unknown): v is string => typeof v === 'string';
  const isNumber = (v: unknown): v is number => typeof v === 'number';
  const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
  const ds = obj(j.dataset),
    cfg = obj(j.config),
    summary = obj(j.datasetSummary);
  const method = first(isString, cfg.method, j.method) === 'ce' ? 'ce' : 'mopro';
  const epochs = first(Array.isArray, j.epochs, obj(j.training).epochs) ?? [];
  const classes = first(isStrings, summary.classes, j.classes, ds.classes, obj(j.model).classes) ?? [];
  const rest = { ...j };
  for (const k of ['datasetRoot', 'classes', 'training', 'epochsTotal', 'startedAt', 'times']) delete rest[k];
  return {
    ...rest,
    version: RUN_JSON_VERSION,
    method,
    dataset: first(isString, j.dataset, ds.root, cfg.dataset, j.datasetRoot) ?? '',
    out: first(isString, j.out) ?? dir,
    createdAt: first(isString, j.createdAt, j.startedAt, obj(j.times).startedAt) ?? '',
    config: { ...cfg, method, epochs: first(isNumber, cfg.epochs, j.epochsTotal) ?? epochs.length },
    backend: {
      reason: '',
      skipped: [],
      ...obj(j.backend),
      name: first(isString, j.backend, obj(j.backend).name) ?? '',
    },
    datasetSummary: {
      counts: [],
      images: 0,
      used: 0,
      skipped: [],
      warnings: [],
      ...summary,
      classes,
    },
    epochs,
  };
}

/** A run.json's text as RunJson; throws one line naming the file and what does not fit. */
export function parseRunJson(text: string, file: string, dir: string): RunJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message}); is this a run folder?`);
  }
  const r = RunJson.safeParse(migrateRunJson(raw, dir));
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new Error(
    `${file}: not a MoPro run summary (${i.path.join('.') || 'the file'}: ${i.message}); is this a run folder?`,
  );
}
