// Contract of the training engine (implemented in src-main/engine/, used by CLI, API service, bench).
import type { EpochStats } from '../../src-shared/contract';
import type { CliOnlyTrainArg, TrainArgs } from '../../src-shared/train-options';

type EngineArgs = Omit<TrainArgs, CliOnlyTrainArg>;

/**
 * The engine's options: the options of `mopro train` (src-shared/train-options.ts, where each is described), of which
 * only method and backend are required, plus what the CLI and the app settle before training starts.
 */
export type TrainOptions = Pick<EngineArgs, 'method' | 'backend'> &
  Partial<EngineArgs> & {
    dataset: string; //        class-per-folder root
    out: string; //            run folder (created; must be writable)
    cacheDir?: string; //      decoded-pixel cache
    /** Human decisions: rel path -> fixed label; never relabelled. */
    fixedLabels?: Record<string, string>;
    /** Human decisions: rel paths confirmed OOD; excluded from training. */
    excluded?: string[];
  };

export type EngineEvent =
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'backend'; name: string; reason: string; skipped: { name: string; why: string }[] }
  | {
      type: 'phase';
      phase: 'download' | 'scan' | 'decode' | 'features' | 'pretrain' | 'train' | 'final-pass' | 'writing';
      done: number;
      total: number;
    }
  | {
      type: 'step';
      epoch: number;
      epochs: number;
      step: number;
      steps: number;
      loss: number;
      imagesPerSec: number;
      etaSeconds: number | null;
    }
  | { type: 'epoch'; stats: EpochStats }
  | { type: 'checkpoint'; epoch: number };

export interface RunResult {
  out: string;
  state: 'done' | 'stopped';
  epochsDone: number;
  counts: { clean: number; relabeled: number; ood: number };
}

export interface TrainingHandle {
  /** Ask to stop after the current step's checkpoint (Ctrl-C, Stop button). */
  stop(): void;
  done: Promise<RunResult>;
}

export interface PredictOptions {
  run: string;
  folder: string;
  out: string; //            predictions.csv
  backend?: TrainOptions['backend'];
  cacheDir?: string;
  /** Test-time crops averaged per image (multicrop.ts): 1 (default, the whole image), 10 or 144. */
  crops?: 1 | 10 | 144;
}
