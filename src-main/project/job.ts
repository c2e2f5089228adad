// `mopro job`: a self-contained folder that trains MoPro on PyTorch DistributedDataParallel elsewhere (a GPU
// box, a SLURM or Kubernetes cluster) and writes a run folder of the app's contract (design.md §3) that the app
// then opens for review, insights and export. The folder holds the file list, the class names, the engine's
// configuration (the field names of engine/train/config.ts), the Python trainer (scale-out/mopro_ddp) and two
// launchers: train.sh (torchrun) and launch_local.sh (starts the ranks directly, where torchrun fails), and a
// README.md (scale-out/JOB.md) saying what each file is and how to run it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainMethod } from '../../src-shared/contract';
import { scanDataset } from '../dataset/scan';
import { isInside } from '../dataset/walk';
import { resolveConfig, type EngineConfig } from '../engine/train/config';
import { probeImages } from '../engine/train/image-info';
import { ARCHS } from '../engine/nets/model';
import { toCsv } from '../util/csv';
import { writeAtomicSync } from '../util/atomic';

export const JOB_FORMAT = 'mopro-studio-job/1';
export const JOB_FILES_CSV = 'files.csv';
export const JOB_FILES_HEADER = ['path', 'label_index', 'label'] as const;
export const JOB_CLASSES_JSON = 'classes.json';
export const JOB_CONFIG_JSON = 'config.json';
export const JOB_PACKAGE = 'mopro_ddp';
/** The run folder train.sh / launch_local.sh write by default, inside the job folder. */
export const JOB_RUN_DIR = 'run';

export interface JobOptions {
  dataset: string;
  out: string;
  method?: TrainMethod;
  epochs?: number;
  batchSize?: number;
  imageSize?: number;
  arch?: string;
  seed?: number;
  /** size the defaults for CPU ranks instead of GPUs (epochs, image size, arch) */
  cpu?: boolean;
}

/** config.json: the engine's configuration plus what the Python side needs to rebuild the same network. */
export interface JobConfig extends EngineConfig {
  format: typeof JOB_FORMAT;
  archSpec: (typeof ARCHS)[string];
  /** 'torch' (k//2 both sides) or 'tf-same': the padding the TF.js engine uses for this arch, so the weights predict the same there */
  padding: 'torch' | 'tf-same';
  adaptations: string[];
  dataset: { root: string; classes: string[]; counts: number[]; images: number; channels: 1 | 3; nativeSize: number };
  createdAt: string;
}

export interface JobResult {
  out: string;
  files: number;
  classes: string[];
  config: JobConfig;
}

/** scale-out/ of the repository (or of the installed app): the trainer package and the launchers. */
export function scaleOutDir(): string {
  const tried: string[] = [];
  const env = process.env.MOPRO_SCALE_OUT_DIR;
  const starts = env ? [env] : [];
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    starts.push(path.join(d, 'scale-out'));
    d = path.dirname(d);
  }
  const resources = (process as { resourcesPath?: string }).resourcesPath; // packaged Electron app
  if (resources) starts.push(path.join(resources, 'scale-out'));
  for (const s of starts) {
    tried.push(s);
    if (fs.existsSync(path.join(s, JOB_PACKAGE, '__init__.py'))) return s;
  }
  throw new Error(
    `the PyTorch trainer (scale-out/${JOB_PACKAGE}) was not found (looked in ${tried.join(', ')}); set MOPRO_SCALE_OUT_DIR to the repository's scale-out folder`,
  );
}

function emptyOrAbsent(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

export async function writeJob(o: JobOptions): Promise<JobResult> {
  const out = path.resolve(o.out);
  const scan = await scanDataset(o.dataset);
  if (isInside(scan.root, out))
    throw new Error(
      `${out} is inside the dataset ${scan.root}: write the job folder somewhere else (outputs never land inside the dataset)`,
    );
  if (!emptyOrAbsent(out))
    throw new Error(`${out} exists and is not empty: give a new folder for the job (nothing is overwritten)`);
  if (scan.classes.length < 2)
    throw new Error(
      `${scan.root}: found ${scan.classes.length} class folder(s) with images; MoPro needs at least 2 (one sub-folder per class)`,
    );
  const src = scaleOutDir();
  const probe = await probeImages(scan.samples.map((s) => s.abs));
  const { config, adaptations } = resolveConfig({
    method: o.method ?? 'mopro',
    epochs: o.epochs,
    batchSize: o.batchSize,
    imageSize: o.imageSize,
    arch: o.arch,
    seed: o.seed,
    // a job runs where the GPUs are: GPU-sized defaults unless asked for CPU ranks
    backend: o.cpu ? 'cpu' : 'tensorflow',
    n: scan.samples.length,
    k: scan.classes.length,
    channels: probe.channels,
    nativeSize: probe.nativeSize,
  });
  const spec = ARCHS[config.arch];
  if (!spec)
    throw new Error(
      `unknown --arch "${config.arch}": use one of ${Object.keys(ARCHS)
        .filter((a) => !ARCHS[a].dense)
        .join(', ')}`,
    );
  if (spec.dense)
    throw new Error(
      `--arch ${config.arch}: the PyTorch trainer builds ResNets only; use one of ${Object.keys(ARCHS)
        .filter((a) => !ARCHS[a].dense)
        .join(', ')}`,
    );
  adaptations.unshift(
    `PyTorch DDP job: batchSize ${config.batchSize} is the global batch, split evenly over NPROC x NNODES processes (must divide it)`,
  );
  const counts = scan.classes.map(() => 0);
  for (const s of scan.samples) counts[s.classIndex]++;
  const job: JobConfig = {
    ...config,
    format: JOB_FORMAT,
    archSpec: spec,
    padding: spec.torchPad ? 'torch' : 'tf-same',
    adaptations,
    dataset: {
      root: scan.root,
      classes: scan.classes,
      counts,
      images: scan.samples.length,
      channels: probe.channels,
      nativeSize: probe.nativeSize,
    },
    createdAt: new Date().toISOString(),
  };
  fs.mkdirSync(path.join(out, JOB_PACKAGE), { recursive: true });
  writeAtomicSync(
    path.join(out, JOB_FILES_CSV),
    toCsv(
      JOB_FILES_HEADER,
      scan.samples.map((s) => [s.rel, s.classIndex, s.label]),
    ),
  );
  writeAtomicSync(path.join(out, JOB_CLASSES_JSON), JSON.stringify(scan.classes, null, 1) + '\n');
  writeAtomicSync(path.join(out, JOB_CONFIG_JSON), JSON.stringify(job, null, 2) + '\n');
  for (const f of fs.readdirSync(path.join(src, JOB_PACKAGE)).filter((f) => f.endsWith('.py'))) {
    fs.copyFileSync(path.join(src, JOB_PACKAGE, f), path.join(out, JOB_PACKAGE, f));
  }
  for (const f of ['train.sh', 'launch_local.sh']) {
    fs.copyFileSync(path.join(src, f), path.join(out, f));
    fs.chmodSync(path.join(out, f), 0o755);
  }
  fs.copyFileSync(path.join(src, 'JOB.md'), path.join(out, 'README.md'));
  return { out, files: scan.samples.length, classes: scan.classes, config: job };
}
