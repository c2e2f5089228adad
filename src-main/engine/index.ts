// Public entry of the engine: startTraining / predict run as jobs in a process of their own
// (job-runner.ts), so the UI, server or CLI never blocks on the (synchronous, CPU-heavy) tensor work and
// survives a native crash in it; EngineEvents stream back as they happen.
import type { EngineConfig } from './train/config';
import { markRunFailed, runJob, type SpawnJob } from './job-runner';
import type { PredictResult } from './eval/predict';
import type { EngineEvent, PredictOptions, RunResult, TrainingHandle, TrainOptions } from './types';

export type { EngineEvent, PredictOptions, RunResult, TrainingHandle, TrainOptions } from './types';
export type { PredictResult } from './eval/predict';
export type { SpawnJob } from './job-runner';

/** How job processes start: child_process.fork by default; the Electron app passes utilityProcess. */
export interface JobOptions {
  spawn?: SpawnJob;
}

/** Trains in a job process. `overrides` (not part of the CLI contract) sets engine config fields for tuning/tests.
 *  A failed or crashed run rejects with the reason, which is also written to its run.json. */
export function startTraining(
  opts: TrainOptions,
  onEvent: (e: EngineEvent) => void,
  overrides?: Partial<EngineConfig>,
  jobs: JobOptions = {},
): TrainingHandle {
  const job = runJob<RunResult>({ kind: 'train', opts, overrides }, onEvent, jobs.spawn);
  const done = job.done.catch((e: unknown) => {
    try {
      markRunFailed(opts.out, (e as Error)?.message ?? String(e));
    } catch {
      /* the folder is unwritable: the rejection still carries the reason */
    }
    throw e;
  });
  return { stop: job.stop, done };
}

export function predict(
  opts: PredictOptions,
  onEvent: (e: EngineEvent) => void = () => {},
  jobs: JobOptions = {},
): Promise<PredictResult> {
  return runJob<PredictResult>({ kind: 'predict', opts }, onEvent, jobs.spawn).done;
}
