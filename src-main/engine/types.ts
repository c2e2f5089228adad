// Contract of the training engine (implemented in src-main/engine/, used by CLI, API service, bench).
import type { EpochStats, TrainConfig } from '../../src-shared/contract';

/** The engine's options; every choice that the API's TrainConfig also has takes its union from that one zod schema. */
export interface TrainOptions {
  dataset: string; //        class-per-folder root
  out: string; //            run folder (created; must be writable)
  method: TrainConfig['method'];
  epochs?: number; //        default per backend/size, see engine README section
  batchSize?: number;
  imageSize?: number;
  backend: TrainConfig['backend'];
  seed?: number;
  arch?: string;
  resume?: boolean; //       continue from out/checkpoint
  cacheDir?: string; //      decoded-pixel cache
  /** Human decisions: rel path -> fixed label; never relabelled. */
  fixedLabels?: Record<string, string>;
  /** Human decisions: rel paths confirmed OOD; excluded from training. */
  excluded?: string[];
  /** Epoch order: plain shuffle (default) or class-balanced draws, weight N / N_class (seed 002). */
  sampling?: TrainConfig['sampling'];
  /** Start from this earlier run's encoder (backbone, BN statistics, projection; the classifier when the classes match). */
  init?: string;
  /** Self-supervised warm start before MoPro: un-shuffle image tiles (seed 002). */
  pretrain?: TrainConfig['pretrain'];
  pretrainEpochs?: number;
  /** Tiles per side for --pretrain permutation (default 2 below 48 px, else 3). */
  pretrainGrid?: number;
  /** Start from torchvision-layout weights: a .safetensors file or a name (imagenet:resnet18, imagenet:resnet50). */
  pretrained?: string;
  /** Train only the heads on backbone features computed once (with --pretrained). */
  freezeBackbone?: boolean;
  /** With freezeBackbone: fine-tune the whole network after this many frozen epochs (for GPU users). */
  unfreezeAfter?: number;
  /** samples.csv status: 'best' (default, status-rule.ts) or the official offline rule of mopro.md §2. */
  statusRule?: TrainConfig['statusRule'];
}

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
