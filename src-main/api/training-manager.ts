// Training runs started from the app: one at a time, in the engine's job process. Starts, stops and resumes runs,
// turns engine events into train.* API events, and keeps each run's live status (state, epochs, backend) on its
// project until run.json has the final word.
import crypto from 'node:crypto';
import path from 'node:path';
import type { ApiEvent, MethodResults, RunSummary, TrainConfig } from '../../src-shared/contract';
import { ApiError } from './service-types';
import { backendAvailability } from './backends';
import type { ProjectRegistry } from './project-registry';
import type { EngineEvent, TrainingHandle, TrainOptions, RunResult } from '../engine/types';
import type { SpawnJob } from '../engine/job-runner';
import type { Project } from '../project/project';
import { checkOutsideFolders } from '../util/output-guard';
import { datasetIdentity, datasetMismatch, recordedIdentity } from '../engine/train/dataset-identity';
import { readRunJson, runEpochs, runSummary, writeRunMeta } from '../project/runs';
import { readRunDecisions, writeRunDecisions } from '../project/run-decisions';

export interface TrainingManager {
  start(projectId: string, config: TrainConfig): Promise<{ runId: string }>;
  stop(runId: string): void;
  resume(runId: string): Promise<{ runId: string }>;
  isTraining(runId: string): boolean;
  /** A run of an open project (or the one training), and its folder. */
  findRun(runId: string): { project: Project; dir: string };
  /** A run's summary (with its live state while it trains), epochs and run.json. */
  status(runId: string): MethodResults['runs.get'];
  /** A reopen replaced `old` by `prj`: the run training on `old` now reports to `prj`. */
  adopt(old: Project, prj: Project): void;
  /** Stops every run and waits until each has ended. */
  dispose(): Promise<void>;
}

/** The API's training config -> the engine's options (dataset and run folder are added by the caller). */
export function trainOptions(c: TrainConfig): Omit<TrainOptions, 'dataset' | 'out'> {
  return {
    method: c.method,
    epochs: c.epochs,
    batchSize: c.batchSize,
    imageSize: c.imageSize,
    backend: c.backend,
    seed: c.seed,
    arch: c.arch,
    sampling: c.sampling,
    pretrain: c.pretrain,
    statusRule: c.statusRule,
    ...(c.pretrained || c.initRun ? { freezeBackbone: c.freezeBackbone ?? false } : {}),
    ...(c.pretrained ? { pretrained: c.pretrained } : {}),
    ...(c.threads && c.threads > 1 ? { threads: c.threads } : {}),
  };
}

export function createTrainingManager(opts: {
  registry: ProjectRegistry;
  cacheDir: string;
  emit: (e: ApiEvent) => void;
  spawnJob?: SpawnJob;
}): TrainingManager {
  const { registry } = opts;
  const training = new Map<string, { handle: TrainingHandle; project: Project }>();

  function findRun(runId: string): { project: Project; dir: string } {
    const t = training.get(runId);
    if (t) return { project: t.project, dir: path.join(t.project.runsRoot, runId) };
    for (const p of registry.all()) {
      const dir = p.runDir(runId);
      if (dir) return { project: p, dir };
    }
    throw new ApiError('NOT_FOUND', `no run "${runId}" in the open projects`);
  }

  async function startEngine(
    project: Project,
    runId: string,
    train: Omit<TrainOptions, 'dataset' | 'out'>,
  ): Promise<void> {
    if (training.size)
      throw new ApiError('CONFLICT', `a run is already training (${[...training.keys()][0]}); stop it first`);
    const out = path.join(project.runsRoot, runId);
    let engine: typeof import('../engine/index');
    try {
      engine = await import('../engine/index');
    } catch (e) {
      throw new ApiError('INTERNAL', `training engine unavailable: ${(e as Error).message.split('\n')[0]}`);
    }
    // A resumed run continues from its checkpoint: its epoch counts come from run.json, not zero.
    const before = train.resume ? runSummary(out, runId) : null;
    const epochs = train.epochs ?? before?.epochsTotal ?? 0;
    const live: Partial<RunSummary> = {
      state: 'running',
      epochsDone: before?.epochsDone ?? 0,
      ...(epochs ? { epochsTotal: epochs } : {}),
    };
    project.live.set(runId, live);
    const onEvent = (e: EngineEvent): void => {
      const ev: ApiEvent | null =
        e.type === 'step'
          ? {
              type: 'train.progress',
              runId,
              epoch: e.epoch,
              epochs: e.epochs,
              step: e.step,
              steps: e.steps,
              loss: e.loss,
              imagesPerSec: e.imagesPerSec,
              etaSeconds: e.etaSeconds,
              phase: 'train',
            }
          : e.type === 'phase'
            ? {
                type: 'train.progress',
                runId,
                epoch: live.epochsDone ?? 0,
                epochs: live.epochsTotal ?? epochs,
                step: e.done,
                steps: e.total,
                loss: 0,
                imagesPerSec: 0,
                etaSeconds: null,
                phase: e.phase,
              }
            : e.type === 'epoch'
              ? { type: 'train.epoch', runId, stats: e.stats }
              : null;
      if (e.type === 'epoch') live.epochsDone = e.stats.epoch + 1;
      if (e.type === 'step' && e.epochs) live.epochsTotal = e.epochs;
      if (e.type === 'backend') live.backend = e.name;
      if (ev) opts.emit(ev);
    };
    let handle: TrainingHandle;
    try {
      handle = engine.startTraining(
        { dataset: project.root, out, cacheDir: opts.cacheDir, ...train },
        onEvent,
        undefined,
        { spawn: opts.spawnJob },
      );
    } catch (e) {
      project.live.delete(runId);
      throw e; // the dispatch maps it to an API error
    }
    training.set(runId, { handle, project });
    handle.done.then(
      (r: RunResult) => {
        const p = training.get(runId)?.project ?? registry.get(project.id) ?? project;
        training.delete(runId);
        p.live.delete(runId);
        if (r.state === 'done') {
          try {
            p.loadRun(runId);
          } catch (err) {
            console.warn(String(err));
          }
        }
        opts.emit({ type: 'train.done', runId, state: r.state });
      },
      (err: unknown) => {
        training.delete(runId);
        const p = registry.get(project.id) ?? project;
        const msg = String((err as Error)?.message ?? err).split('\n')[0];
        p.live.set(runId, { state: 'failed', error: msg });
        opts.emit({ type: 'train.done', runId, state: 'failed', error: msg });
      },
    );
  }

  return {
    async start(projectId, config) {
      const p = await registry.project(projectId);
      const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${config.method}-${crypto.randomBytes(2).toString('hex')}`;
      // The app's runs folder lives in its data folder; refuse when that sits inside (or above) the dataset.
      checkOutsideFolders(path.join(p.runsRoot, runId), [{ path: p.root, what: 'dataset' }], 'run folder');
      const extra = config.useDecisions ? p.decisionsForTraining() : {};
      // "Start from: an earlier run": that run's folder (its encoder, arch and image size; --init)
      const initDir = config.initRun ? p.runDir(config.initRun) : null;
      if (config.initRun && !initDir)
        throw new ApiError('NOT_FOUND', `no run "${config.initRun}" in project ${projectId} to start from`);
      const avail = backendAvailability();
      const missing = avail.unavailable.find((b) => b.name === config.backend);
      if (missing)
        throw new ApiError(
          'BAD_INPUT',
          `the ${missing.name} backend is ${missing.why}; choose auto, ${avail.available.filter((b) => b !== 'auto').join(' or ')}`,
        );
      // Kept beside the run so a resume trains with the same human decisions.
      if (config.useDecisions) writeRunDecisions(path.join(p.runsRoot, runId), extra);
      await startEngine(p, runId, { ...trainOptions(config), ...extra, ...(initDir ? { init: initDir } : {}) });
      // After the engine accepted the run: a refused start must not leave a folder behind.
      writeRunMeta(path.join(p.runsRoot, runId), { preset: config.preset });
      return { runId };
    },

    stop(runId) {
      const t = training.get(runId);
      if (!t) throw new ApiError('NOT_FOUND', `run "${runId}" is not training`);
      t.handle.stop();
    },

    async resume(runId) {
      if (training.has(runId)) throw new ApiError('CONFLICT', `run "${runId}" is already training`);
      const { project: p, dir } = findRun(runId);
      if (path.dirname(dir) !== p.runsRoot)
        throw new ApiError('BAD_INPUT', `run "${runId}" is outside the project's runs folder; resume it with the CLI`);
      // Files added or removed since the checkpoint: its sample indices no longer fit; say so before starting.
      const was = recordedIdentity(dir);
      const why = was && datasetMismatch(dir, was, datasetIdentity(p.scan.root, p.scan.classes, p.scan.samples));
      if (why) throw new ApiError('BAD_INPUT', why);
      // The engine takes the configuration from its checkpoint; decisions come from the side file.
      const cfg = (readRunJson(dir)?.config ?? {}) as Partial<TrainOptions>;
      let dec: Pick<TrainOptions, 'fixedLabels' | 'excluded'>;
      try {
        dec = readRunDecisions(dir) ?? {}; // none: trained without decisions
      } catch (e) {
        throw new ApiError('BAD_INPUT', (e as Error).message); // unreadable: never resume silently without them
      }
      await startEngine(p, runId, {
        method: cfg.method === 'ce' ? 'ce' : 'mopro',
        backend: 'auto',
        ...dec,
        resume: true,
      });
      return { runId };
    },

    isTraining: (runId) => training.has(runId),

    findRun,

    status(runId) {
      const { project: p, dir } = findRun(runId);
      const j = readRunJson(dir);
      return { summary: runSummary(dir, runId, p.live.get(runId)), epochs: runEpochs(j), runJson: j };
    },

    adopt(old, prj) {
      for (const t of training.values()) if (t.project === old) t.project = prj;
    },

    async dispose() {
      for (const t of training.values()) t.handle.stop();
      await Promise.allSettled([...training.values()].map((t) => t.handle.done));
    },
  };
}
