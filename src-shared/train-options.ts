// A training run's options as `mopro train` takes them: one zod schema whose fields carry their flag and help line.
// The CLI builds its options from it (choices and defaults from the schema) and validates argv with it; the engine's
// TrainOptions (engine/types.ts) is its output type less the CLI's own fields. A new option is a field here and its
// use in the engine.
import { z } from 'zod';
import { TrainConfig } from './contract';

/** How a field appears on the command line: its flag in commander syntax (`--name <arg>`, no arg for a boolean) and help. */
export interface CliFlag {
  flag: string;
  help: string;
}
/** The flags of the fields that have one (the schema's field instances are the keys). */
export const cliFlags = z.registry<CliFlag>();

function flag<T extends z.ZodType>(schema: T, flag: string, help: string): T {
  cliFlags.add(schema as z.ZodType, { flag, help });
  return schema;
}
// integers within bounds; the CLI names the flag and the bounds when a value is outside them
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max).optional();
// the API's choices and defaults (TrainConfig) are cloned, so that these flags are not registered on its own fields
const api = TrainConfig.shape;

/** In the order `mopro train --help` lists them. */
export const TrainArgs = z.object({
  /** run folder (created; must be writable) */
  out: flag(z.string().optional(), '--out <run>', 'run folder to write'),
  /** default per backend and image size (engine README) */
  epochs: flag(int(1), '--epochs <n>', 'training epochs'),
  batchSize: flag(int(2), '--batch-size <n>', 'mini-batch size'),
  imageSize: flag(int(8, 512), '--image-size <px>', 'training image size (8 to 512, as in the app)'),
  method: flag(api.method.clone(), '--method <m>', 'training method'),
  backend: flag(api.backend.clone(), '--backend <name>', 'compute backend'),
  /** Data-parallel wasm replicas, one per CPU core (engine/train/data-parallel.ts); 1 = one thread. */
  threads: flag(
    int(1, 64),
    '--threads <n>',
    'wasm: train on n data-parallel replicas (worker threads, one core each; default 1)',
  ),
  seed: flag(int(0), '--seed <n>', 'random seed'),
  arch: flag(z.string().optional(), '--arch <name>', 'backbone (default depends on backend and image size)'),
  /** continue from out/checkpoint */
  resume: flag(z.boolean().optional(), '--resume', "continue from the run folder's last checkpoint"),
  force: flag(
    z.boolean().optional(),
    '--force',
    'start over in a folder that holds a run; the old run is kept as <run>.old-<time>',
  ),
  /** Epoch order: plain shuffle (default) or class-balanced draws, weight N / N_class (seed 002). */
  sampling: flag(
    api.sampling.clone(),
    '--sampling <mode>',
    'epoch order: uniform shuffle, or class-balanced draws (weight N / N_class)',
  ),
  /** Start from this earlier run's encoder (backbone, BN statistics, projection; the classifier when the classes match). */
  init: flag(z.string().optional(), '--init <run>', "start from an earlier run's encoder (its arch and image size)"),
  /** Self-supervised warm start before MoPro: un-shuffle image tiles (seed 002). */
  pretrain: flag(api.pretrain.clone(), '--pretrain <task>', 'self-supervised warm start before training'),
  pretrainEpochs: flag(int(1), '--pretrain-epochs <n>', 'epochs of --pretrain (default 3)'),
  pretrainGrid: flag(
    int(2),
    '--pretrain-grid <n>',
    'tiles per side for --pretrain permutation (default 2 below 48 px, else 3)',
  ),
  /** Start from torchvision-layout weights: a .safetensors file or a name (imagenet:resnet18, imagenet:resnet50). */
  pretrained: flag(
    z.string().optional(),
    '--pretrained <weights>',
    'start from torchvision-layout weights: a .safetensors file, or imagenet:resnet18 / imagenet:resnet50 (downloaded once into the cache)',
  ),
  /** Train only the heads on backbone features computed once (with pretrained weights or --init). */
  freezeBackbone: flag(
    z.boolean().optional(),
    '--freeze-backbone',
    'train only the heads on backbone features computed once (with --pretrained or --init; fast on a CPU)',
  ),
  /** With freezeBackbone: fine-tune the whole network after this many frozen epochs (for GPU users). */
  unfreezeAfter: flag(
    int(0),
    '--unfreeze-after <n>',
    'with --freeze-backbone: fine-tune the whole network after n frozen epochs (GPU)',
  ),
  decisions: flag(
    z.string().optional(),
    '--decisions <file.json>',
    'human decisions: {"fixedLabels": {path: class}, "excluded": [path]}',
  ),
  useDecisions: flag(
    z.boolean().optional(),
    '--use-decisions',
    'train with the review decisions made in the app for this dataset',
  ),
  /** samples.csv status: 'best' (default, status-rule.ts) or the official offline rule of mopro.md §2. */
  statusRule: flag(
    api.statusRule.clone(),
    '--status-rule <rule>',
    'samples.csv status: best (measured, with a weak-model guard) or official (mopro.md §2 offline rule)',
  ),
});
export type TrainArgs = z.output<typeof TrainArgs>;

/** Fields the CLI settles before the engine starts: the output folder (resolved, guarded) and the human decisions. */
export type CliOnlyTrainArg = 'out' | 'force' | 'decisions' | 'useDecisions';
