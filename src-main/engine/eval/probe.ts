// `mopro probe <run> <labelled folder> --shots k`: how well the run's frozen features transfer to another
// labelled task (mopro.md §5, lowshot_svm.py; seed 000's low-shot protocol): L2-normalised pooled backbone
// features, k images per class drawn at random to fit a linear classifier, accuracy on the rest, averaged over
// 5 draws. Adaptation: a multinomial logistic-regression head (our linear-head trainer, L2-regularised)
// stands in for scikit-learn's LinearSVC(C=0.5): both are linear classifiers on the same features.
import path from 'node:path';
import { loadPixelSource } from '../../dataset/decode';
import { listImages } from '../../dataset/scan';
import { cacheDir as defaultCacheDir } from '../../paths';
import { selectBackend } from '../backends/backend';
import { extractFeaturesAsync, gatherRows } from './features';
import { argmaxRows, headLogits, trainLinearHead, trainLinearHeadAsync, type LinearHead } from './linear-head';
import { disposeEncoder } from '../nets/model';
import { loadModel } from '../nets/model-io';
import { normaliseRows } from '../mopro/prototypes';
import { Rng } from '../../../src-shared/rng';
import type { EngineEvent, TrainOptions } from '../types';

export interface ProbeOptions {
  run: string;
  folder: string;
  shots: number[];
  draws?: number;
  seed?: number;
  backend?: TrainOptions['backend'];
  cacheDir?: string;
}
export interface ProbeShot {
  shots: number;
  accuracies: number[];
  mean: number;
  std: number;
  testImages: number;
}
export interface ProbeResult {
  run: string;
  folder: string;
  classes: string[];
  images: number;
  featureDim: number;
  draws: number;
  results: ProbeShot[];
}

/** k random rows per class for training, the rest for testing (classes with <= k images are left out of both). */
export function lowShotSplit(
  labels: Int32Array,
  K: number,
  k: number,
  rng: Rng,
): { train: Int32Array; test: Int32Array } {
  const byClass: number[][] = Array.from({ length: K }, () => []);
  labels.forEach((y, i) => byClass[y].push(i));
  const train: number[] = [],
    test: number[] = [];
  for (const rows of byClass) {
    if (rows.length <= k) continue;
    const p = rng.permutation(rows.length);
    for (let j = 0; j < rows.length; j++) (j < k ? train : test).push(rows[p[j]]);
  }
  return { train: Int32Array.from(train), test: Int32Array.from(test) };
}

/** Fits the linear head on (x[train], y[train]) and returns accuracy on test. x rows are L2-normalised features. */
export function probeAccuracy(
  x: Float32Array,
  y: Int32Array,
  dim: number,
  K: number,
  split: { train: Int32Array; test: Int32Array },
): number {
  const fit = probeFit(x, y, dim, K, split);
  return testAccuracy(trainLinearHead(...fit).head, x, y, split);
}

/** probeAccuracy reading the head's losses with `await data()` (runs on webgpu too); the same numbers. */
export async function probeAccuracyAsync(
  x: Float32Array,
  y: Int32Array,
  dim: number,
  K: number,
  split: { train: Int32Array; test: Int32Array },
): Promise<number> {
  const fit = probeFit(x, y, dim, K, split);
  return testAccuracy((await trainLinearHeadAsync(...fit)).head, x, y, split);
}

/** The head trainer's arguments for a probe split. */
function probeFit(
  x: Float32Array,
  y: Int32Array,
  dim: number,
  K: number,
  split: { train: Int32Array },
): Parameters<typeof trainLinearHead> {
  const xt = gatherRows(x, split.train, dim),
    yt = Int32Array.from(split.train, (r) => y[r]);
  const all = Int32Array.from({ length: yt.length }, (_, i) => i);
  // full batch; unit-norm inputs need a large step; weight decay plays the role of the SVM's C
  return [
    xt,
    yt,
    dim,
    K,
    {
      epochs: 300,
      batchSize: Math.max(1, yt.length),
      lr: () => 2,
      momentum: 0.9,
      weightDecay: 1e-3,
      order: () => all,
    },
  ];
}

function testAccuracy(head: LinearHead, x: Float32Array, y: Int32Array, split: { test: Int32Array }): number {
  const xs = gatherRows(x, split.test, head.dim),
    pred = argmaxRows(headLogits(head, xs, split.test.length), split.test.length, head.K);
  let ok = 0;
  split.test.forEach((r, j) => {
    if (pred[j] === y[r]) ok++;
  });
  return split.test.length ? ok / split.test.length : NaN;
}

export async function runProbe(o: ProbeOptions, emit: (e: EngineEvent) => void = () => {}): Promise<ProbeResult> {
  const backend = await selectBackend(o.backend ?? 'auto', undefined, { webgpu: true });
  emit({ type: 'backend', ...backend });
  const listed = await listImages(o.folder);
  const labelled = listed.files.filter((f) => f.rel.includes('/'));
  const classes = [...new Set(labelled.map((f) => f.rel.split('/')[0]))].sort();
  if (classes.length < 2)
    throw new Error(
      `${o.folder}: the probe needs a labelled folder (one sub-folder per class, at least 2); found ${classes.length}`,
    );
  const { meta, enc } = loadModel(path.resolve(o.run));
  try {
    const load = await loadPixelSource(labelled, {
      size: meta.imageSize,
      channels: meta.channels,
      cacheDir: o.cacheDir ?? defaultCacheDir(),
      onProgress: (d, t) => emit({ type: 'phase', phase: 'decode', done: d, total: t }),
    });
    for (const s of [...listed.skipped, ...load.skipped])
      emit({ type: 'log', level: 'warn', message: `skipped ${s.path}: ${s.reason}` });
    const rows = Int32Array.from(labelled.map((_, i) => i).filter((i) => load.ok[i]));
    const f = await extractFeaturesAsync(
      enc,
      load.pixels,
      rows,
      meta.imageSize,
      meta.channels,
      { mean: meta.mean, std: meta.std },
      { onProgress: (d) => emit({ type: 'phase', phase: 'final-pass', done: d, total: rows.length }) },
    );
    load.pixels.close();
    const x = normaliseRows(f.feat, rows.length, f.dim); // in place: f.feat is ours
    const cIdx = new Map(classes.map((c, k) => [c, k] as const));
    const y = Int32Array.from(rows, (i) => cIdx.get(labelled[i].rel.split('/')[0])!);
    const draws = o.draws ?? 5;
    const results: ProbeShot[] = [];
    for (const k of o.shots) {
      const rng = new Rng((o.seed ?? 1) * 1009 + k);
      const accs: number[] = [];
      let testImages = 0;
      for (let d = 0; d < draws; d++) {
        const split = lowShotSplit(y, classes.length, k, rng);
        if (!split.train.length || !split.test.length)
          throw new Error(`${o.folder}: no class has more than ${k} images; use a smaller --shots`);
        accs.push(await probeAccuracyAsync(x, y, f.dim, classes.length, split));
        testImages = split.test.length;
      }
      const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
      const std = Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / accs.length);
      results.push({ shots: k, accuracies: accs, mean, std, testImages });
      emit({
        type: 'log',
        level: 'info',
        message: `${k}-shot: ${(100 * mean).toFixed(1)}% +- ${(100 * std).toFixed(1)} over ${draws} draws`,
      });
    }
    return {
      run: path.resolve(o.run),
      folder: path.resolve(o.folder),
      classes,
      images: rows.length,
      featureDim: f.dim,
      draws,
      results,
    };
  } finally {
    disposeEncoder(enc);
  }
}
