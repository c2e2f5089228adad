// A whole training run (scan, decode, train, final pass, write the run folder). Runs inside the worker
// (worker.ts) but is plain async code, so tests can call it in-thread too.
import * as tf from '@tensorflow/tfjs';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EpochStats } from '../../../src-shared/contract';
import { LossName, mapLosses, withLossRecord, zeroLosses } from '../../../src-shared/losses';
import { loadPixelSource } from '../../dataset/decode';
import { readRows, type Pixels } from '../../dataset/pixel-source';
import { scanDataset } from '../../dataset/scan';
import { RUN_JSON } from '../../../src-shared/run-format';
import { RUN_JSON_VERSION, type RunJsonInput, type RunState } from '../../../src-shared/run-json';
import { writeAtomicSync } from '../../util/atomic';
import { checkRunOutput, OutputRefused } from '../../util/output-guard';
import { cacheDir as defaultCacheDir } from '../../paths';
import { continueOnSyncBackend, downloadVariables, selectBackend } from '../backends/backend';
import { readsOnlyAsync } from '../backends/read-back';
import { hasCheckpoint, loadCheckpoint, readCheckpointMeta, saveCheckpoint } from './checkpoint';
import { datasetIdentity, datasetMismatch, recordedIdentity } from './dataset-identity';
import { resolveConfig, type EngineConfig } from './config';
import {
  FINAL_FEAT_DIM,
  finalChunk,
  inferAll,
  inferAllAsync,
  judge,
  judgeAsync,
  writeRunArrays,
} from '../eval/final-pass';
import { probeImages } from './image-info';
import { ARCHS, createEncoder, disposeEncoder, isHeadParam, paramCount, type Encoder } from '../nets/model';
import { loadModel, readModelMeta, saveModel } from '../nets/model-io';
import { copyEncoderWeights } from '../nets/init-from-run';
import { featureStats, foldStandardiser, frozenFeatures, headsInferAll, headsInferAllAsync } from './frozen-features';
import { IMAGENET_MEAN, IMAGENET_STD, readPretrained, resolvePretrained, type FetchLike } from '../nets/pretrained';
import { loadTorchvisionWeights, type LoadReport } from '../nets/torchvision-weights';
import { samplingSummary } from './sampling';
import { Trainer, type TrainData } from './trainer';
import { DataParallel } from './data-parallel';
import type { EngineEvent, RunResult, TrainOptions } from '../types';

export interface RunControl {
  shouldStop(): boolean;
  overrides?: Partial<EngineConfig>;
  /** --pretrained downloads (tests inject a fake) */ fetch?: FetchLike;
  /** rows above this many bytes are read from the on-disk pixel cache per batch (decode.ts IN_MEMORY_MAX_BYTES; 0 = always) */
  pixelsInMemoryMax?: number;
  /** benchmarks: training ends after this many steps (then the final pass runs as after the last epoch) */
  maxSteps?: number;
}

/** Per-channel mean/std of the training pixels (0..1 scale), on a sample of rows for speed. */
export function pixelStats(
  pixels: Pixels,
  n: number,
  per: number,
  c: number,
  rows: Int32Array,
): { mean: number[]; std: number[] } {
  const s = new Float64Array(c),
    s2 = new Float64Array(c),
    cnt = new Float64Array(c);
  const step = Math.max(1, Math.floor(rows.length / 2000));
  const picked = Int32Array.from({ length: Math.ceil(rows.length / step) }, (_, j) => rows[j * step]);
  for (let b = 0; b < picked.length; b += 256) {
    const px = readRows(pixels, picked.subarray(b, b + 256), per);
    for (let o = 0; o < px.length; o += per)
      for (let t = 0; t < per; t++) {
        const v = px[o + t] / 255,
          ch = t % c;
        s[ch] += v;
        s2[ch] += v * v;
        cnt[ch]++;
      }
  }
  void n;
  const mean = Array.from(s, (v, i) => v / Math.max(1, cnt[i]));
  const std = Array.from(s2, (v, i) => Math.sqrt(Math.max(1e-6, v / Math.max(1, cnt[i]) - mean[i] ** 2)));
  return { mean, std };
}

export async function runTraining(
  opts: TrainOptions,
  emit: (e: EngineEvent) => void,
  ctl: RunControl,
): Promise<RunResult> {
  // what a run holds (the trainer's tf variables, replica threads, open pixel-cache files, a pretrained encoder)
  // is released however it ends: a run that threw mid-way (diverged loss, full disk) left it all in the calling
  // thread (109 tensors for a resnet-micro MoPro run)
  const held: (() => unknown)[] = [];
  try {
    return await trainRun(opts, emit, ctl, held);
  } finally {
    for (const release of held.reverse()) await release();
  }
}

async function trainRun(
  opts: TrainOptions,
  emit: (e: EngineEvent) => void,
  ctl: RunControl,
  held: (() => unknown)[],
): Promise<RunResult> {
  const t0 = Date.now();
  const out = path.resolve(opts.out);
  // The same refusal the CLI gives (output in the dataset, someone else's folder, an existing run without --resume).
  checkRunOutput(out, { folders: [{ path: opts.dataset, what: 'dataset' }], resume: opts.resume });
  // --pretrained: fetched (once) and format-checked before the run folder exists, so a bad file leaves none
  const outExisted = fs.existsSync(out);
  let pre: (Awaited<ReturnType<typeof resolvePretrained>> & { parsed: ReturnType<typeof readPretrained> }) | null =
    null;
  if (opts.pretrained && !(opts.resume && hasCheckpoint(out))) {
    if (opts.init) throw new Error('--pretrained and --init both choose the starting weights: give one of them');
    let lastPct = -1;
    const w = await resolvePretrained(opts.pretrained, {
      cacheDir: opts.cacheDir ?? defaultCacheDir(),
      fetch: ctl.fetch,
      onProgress: (d, t) => {
        emit({ type: 'phase', phase: 'download', done: d, total: t });
        const pct = Math.floor((10 * d) / Math.max(1, t)) * 10;
        if (pct !== lastPct) {
          lastPct = pct;
          emit({
            type: 'log',
            level: 'info',
            message: `downloading ${opts.pretrained}: ${(d / 1e6).toFixed(1)} of ${(t / 1e6).toFixed(1)} MB (${pct}%)`,
          });
        }
      },
    });
    pre = { ...w, parsed: readPretrained(w) };
    if (opts.arch && w.arch && opts.arch !== w.arch)
      throw new Error(
        `--pretrained ${opts.pretrained} is ${w.arch}: drop --arch ${opts.arch} or give ${opts.arch} weights`,
      );
  }
  if (opts.unfreezeAfter !== undefined && !opts.freezeBackbone && !opts.resume)
    throw new Error('--unfreeze-after needs --freeze-backbone');
  if (opts.freezeBackbone && !opts.pretrained && !opts.init && !opts.resume)
    throw new Error(
      '--freeze-backbone needs --pretrained <weights> or --init <run>: a random backbone has nothing worth freezing',
    );
  /** a failure before training starts removes the run folder this call created (no partial run left) */
  const dropNewOut = () => {
    if (!outExisted) fs.rmSync(out, { recursive: true, force: true });
  };
  fs.mkdirSync(out, { recursive: true });
  // webgpu trains (frozen-backbone features and permutation pre-training too): every step reads back asynchronously
  const backend = await selectBackend(opts.backend, undefined, { webgpu: true });
  emit({ type: 'backend', ...backend });
  emit({ type: 'phase', phase: 'scan', done: 0, total: 1 });
  // A stop during the scan ends it at once (a huge or slow folder must not hold the run hostage).
  const scanAbort = new AbortController();
  if (ctl.shouldStop()) scanAbort.abort();
  const poll = setInterval(() => {
    if (ctl.shouldStop()) scanAbort.abort();
  }, 100);
  let lastNote = Date.now();
  let scan: Awaited<ReturnType<typeof scanDataset>>;
  try {
    scan = await scanDataset(opts.dataset, {
      signal: scanAbort.signal,
      onProgress: (d, t) => emit({ type: 'phase', phase: 'scan', done: d, total: t }),
      onWalk: (files, folders) => {
        if (Date.now() - lastNote < 2000) return;
        lastNote = Date.now();
        emit({
          type: 'log',
          level: 'info',
          message: `scanning ${opts.dataset}: ${files} image file(s) in ${folders} folder(s) so far`,
        });
      },
    });
  } catch (e) {
    if (!scanAbort.signal.aborted) throw e;
    emit({ type: 'log', level: 'warn', message: 'stopped during the scan: nothing was trained' });
    dropNewOut();
    return { out, state: 'stopped', epochsDone: 0, counts: { clean: 0, relabeled: 0, ood: 0 } };
  } finally {
    clearInterval(poll);
  }
  for (const w of scan.warnings) emit({ type: 'log', level: 'warn', message: w });
  if (scan.classes.length < 2)
    throw new Error(
      `${scan.root}: found ${scan.classes.length} class folder(s) with images; MoPro needs at least 2 (one sub-folder per class)`,
    );
  const resume = !!opts.resume && hasCheckpoint(out);
  if (opts.resume && !resume)
    emit({ type: 'log', level: 'warn', message: `no checkpoint in ${out}: starting from scratch` });
  const identity = datasetIdentity(scan.root, scan.classes, scan.samples);
  if (resume) {
    // The checkpoint's sample and class indices only fit the dataset it was trained on.
    const was = recordedIdentity(out);
    const why = was ? datasetMismatch(out, was, identity) : null;
    if (why) throw new OutputRefused(why);
    if (was?.root && was.root !== identity.root)
      emit({
        type: 'log',
        level: 'info',
        message: `resuming on ${identity.root}: the same files as ${was.root} (moved or renamed folder)`,
      });
  }
  const probe = await probeImages(scan.samples.map((s) => s.abs));
  let cfg: EngineConfig, adaptations: string[];
  if (resume) {
    cfg = readCheckpointMeta(out).config;
    let prev: string[] = [];
    try {
      prev =
        (JSON.parse(fs.readFileSync(path.join(out, RUN_JSON), 'utf8')) as { adaptations?: string[] }).adaptations ?? [];
    } catch {
      /* run.json missing: only the note below */
    }
    adaptations = [
      ...prev.filter((a) => !a.startsWith('resumed')),
      'resumed from checkpoint: configuration of the original run',
    ];
    if (opts.epochs && opts.epochs !== cfg.epochs) {
      cfg = { ...cfg, epochs: opts.epochs };
      adaptations.push(`epochs changed to ${opts.epochs} on resume`);
    }
  } else {
    // --init: the earlier run's model fixes the arch and, unless given, the image size
    const initMeta = opts.init ? readModelMeta(path.resolve(opts.init)) : null;
    if (initMeta && initMeta.channels !== probe.channels) {
      throw new Error(
        `--init ${opts.init}: that model takes ${initMeta.channels}-channel images, this dataset has ${probe.channels}; pick a run trained on ${probe.channels === 1 ? 'greyscale' : 'colour'} images`,
      );
    }
    if (initMeta && opts.arch && opts.arch !== initMeta.arch)
      throw new Error(
        `--init ${opts.init} is a ${initMeta.arch} model: drop --arch ${opts.arch} or pick a ${opts.arch} run`,
      );
    // pretrained: ImageNet weights take RGB (grey images become three equal channels) at 224 px on a GPU;
    // 112 px keeps a CPU run (frozen features computed once) to minutes
    const preSize = pre && !opts.imageSize ? (backend.name === 'tensorflow' ? 224 : 112) : undefined;
    ({ config: cfg, adaptations } = resolveConfig({
      method: opts.method,
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      imageSize: opts.imageSize ?? preSize ?? initMeta?.imageSize,
      arch: opts.arch ?? pre?.parsed.arch ?? initMeta?.arch,
      seed: opts.seed,
      backend: backend.name,
      n: scan.samples.length,
      k: scan.classes.length,
      channels: pre ? 3 : probe.channels,
      nativeSize: probe.nativeSize,
      overrides: ctl.overrides,
    }));
    if (pre) {
      cfg.pretrained = { source: pre.source, sha256: pre.sha256, arch: cfg.arch, ...(pre.url ? { url: pre.url } : {}) };
      adaptations.push(
        `started from pretrained ${cfg.arch} weights ${pre.source} (sha256 ${pre.sha256.slice(0, 16)}...): ImageNet mean/std normalisation${probe.channels === 1 ? ', grey images fed as 3 equal channels' : ''}`,
      );
      if (preSize)
        adaptations.push(
          `image size ${preSize} for pretrained weights (ImageNet: 224; ${preSize < 224 ? 'CPU budget' : 'GPU'})`,
        );
      if (!opts.freezeBackbone && ctl.overrides?.lr === undefined) {
        cfg.lr = cfg.lr * 0.1;
        adaptations.push(
          `lr x0.1 = ${cfg.lr.toFixed(4)} when fine-tuning pretrained weights (a from-scratch lr would wash the features out)`,
        );
      }
    }
    if (opts.freezeBackbone) {
      cfg.freezeBackbone = true;
      adaptations.push(
        'backbone frozen (eval-mode BN): its features of each image and its mirror computed once; heads, prototypes, queue and cleaning train on them (augmentation = the view drawn per sample)',
      );
      if (opts.unfreezeAfter !== undefined && opts.unfreezeAfter < cfg.epochs) {
        cfg.unfreezeAfter = opts.unfreezeAfter;
        adaptations.push(
          `whole network fine-tuned from epoch ${opts.unfreezeAfter + 1} (image augmentation, BN in train mode; the lr schedule continues)`,
        );
      }
    }
    if (opts.sampling === 'balanced') {
      cfg.sampling = 'balanced';
      adaptations.push(
        'class-balanced sampling: image i drawn with weight N / N_class(i), N draws per epoch with replacement (seed 002; MoPro: uniform)',
      );
    }
  }
  if (!ARCHS[cfg.arch]) throw new Error(`unknown --arch "${cfg.arch}": use one of ${Object.keys(ARCHS).join(', ')}`);
  // the weights into an encoder seeded as the trainer's will be (validated before the images are decoded;
  // a mismatch names the tensor and both shapes, and the new run folder is removed)
  let preEnc: ReturnType<typeof createEncoder> | null = null,
    preReport: LoadReport | null = null;
  held.push(() => preEnc && disposeEncoder(preEnc));
  if (pre) {
    preEnc = createEncoder(cfg.arch, cfg.channels, scan.classes.length, cfg.seed, false);
    try {
      preReport = loadTorchvisionWeights(preEnc, pre.parsed.file.tensors, { file: pre.file });
    } catch (e) {
      dropNewOut();
      throw e;
    }
  }
  emit({
    type: 'log',
    level: 'info',
    message: `${scan.samples.length} images, ${scan.classes.length} classes; ${cfg.method} ${cfg.arch} ${cfg.imageSize}px x${cfg.channels}, ${cfg.epochs} epochs, batch ${cfg.batchSize}, backend ${backend.name}`,
  });

  const load = await loadPixelSource(scan.samples, {
    size: cfg.imageSize,
    channels: cfg.channels,
    cacheDir: opts.cacheDir ?? defaultCacheDir(),
    inMemoryMax: ctl.pixelsInMemoryMax,
    onProgress: (d, t) => emit({ type: 'phase', phase: 'decode', done: d, total: t }),
  });
  held.push(() => load.pixels.close());
  if (load.streamed)
    emit({
      type: 'log',
      level: 'info',
      message: `pixels read from the on-disk cache batch by batch (${((scan.samples.length * load.pixels.rowBytes) / 1e9).toFixed(2)} GB of rows stay on disk)`,
    });
  const N = scan.samples.length,
    K = scan.classes.length;
  const labels = Int32Array.from(scan.samples, (s) => s.classIndex);
  const fixed = new Uint8Array(N),
    excluded = new Uint8Array(N);
  const relIndex = new Map(scan.samples.map((s, i) => [s.rel, i] as const));
  for (const [rel, lab] of Object.entries(opts.fixedLabels ?? {})) {
    const i = relIndex.get(rel),
      k = scan.classes.indexOf(lab);
    if (i === undefined) continue;
    if (k < 0) {
      emit({ type: 'log', level: 'warn', message: `fixed label "${lab}" for ${rel} is not a class folder: ignored` });
      continue;
    }
    labels[i] = k;
    fixed[i] = 1;
  }
  for (const rel of opts.excluded ?? []) {
    const i = relIndex.get(rel);
    if (i !== undefined) excluded[i] = 1;
  }
  load.ok.forEach((ok, i) => {
    if (!ok) excluded[i] = 1;
  });
  const trainIdx = Int32Array.from([...Array(N).keys()].filter((i) => !excluded[i]));
  if (trainIdx.length < cfg.batchSize)
    throw new Error(
      `${scan.root}: only ${trainIdx.length} usable images, fewer than the batch size ${cfg.batchSize}; add images or pass a smaller --batch-size`,
    );
  const per = cfg.imageSize * cfg.imageSize * cfg.channels;
  const data: TrainData = {
    pixels: load.pixels,
    n: N,
    h: cfg.imageSize,
    w: cfg.imageSize,
    c: cfg.channels,
    labels,
    fixed,
    trainIdx,
    numClasses: K,
  };
  const norm = cfg.pretrained
    ? { mean: IMAGENET_MEAN, std: IMAGENET_STD }
    : pixelStats(load.pixels, N, per, cfg.channels, trainIdx);
  const trainer = new Trainer(cfg, data, norm);
  held.push(() => trainer.dispose());
  let history: EpochStats[] = [];
  let wallBefore = 0;
  let initInfo: RunJsonInput['init'] = undefined,
    pretrainInfo: RunJsonInput['pretrain'] = undefined;
  if (!resume && opts.init) {
    const initDir = path.resolve(opts.init);
    const src = loadModel(initDir);
    const sameClasses = src.meta.classes.join('\u0000') === scan.classes.join('\u0000');
    const rep = copyEncoderWeights(src.enc, trainer.query, { head: sameClasses });
    disposeEncoder(src.enc);
    initInfo = {
      run: initDir,
      copied: rep.copied,
      skipped: rep.skipped,
      classifier: sameClasses ? 'copied (same classes)' : 'new (classes differ)',
    };
    adaptations.push(
      `encoder initialised from ${initDir} (${rep.copied} tensors; classifier ${sameClasses ? 'copied' : 'new'})`,
    );
    emit({
      type: 'log',
      level: 'info',
      message: `initialised from ${opts.init}: ${rep.copied} tensors copied${rep.skipped.length ? `, ${rep.skipped.length} left new` : ''}`,
    });
  }
  if (!resume && opts.pretrain === 'permutation') {
    const { defaultGrid, pretrainPermutation } = await import('./pretrain-permutation');
    const grid = opts.pretrainGrid ?? defaultGrid(cfg.imageSize),
      epochs = opts.pretrainEpochs ?? 3;
    const tp = Date.now();
    emit({
      type: 'log',
      level: 'info',
      message: `pre-training: tile permutations, grid ${grid}x${grid}, ${epochs} epoch(s)`,
    });
    const pre = await pretrainPermutation(trainer.query, data, norm, {
      epochs,
      grid,
      batchSize: cfg.batchSize,
      lr: cfg.lr,
      seed: cfg.seed,
      shouldStop: ctl.shouldStop,
      onStep: (i: { epoch: number; step: number; steps: number }) =>
        emit({ type: 'phase', phase: 'pretrain', done: i.epoch * i.steps + i.step, total: epochs * i.steps }),
    });
    pretrainInfo = { task: 'permutation', grid, epochs, seconds: (Date.now() - tp) / 1000, history: pre.history };
    adaptations.push(
      `self-supervised warm start: ${epochs} epoch(s) un-shuffling ${grid}x${grid} tiles (Sinkhorn), then ${cfg.method}`,
    );
    for (const h of pre.history)
      emit({
        type: 'log',
        level: 'info',
        message: `pretrain epoch ${h.epoch + 1}: loss ${h.loss.toFixed(4)} tile accuracy ${(100 * h.accuracy).toFixed(1)}% ${h.seconds.toFixed(1)} s`,
      });
    if (ctl.shouldStop()) {
      emit({
        type: 'log',
        level: 'warn',
        message: 'stopped during pre-training: nothing to resume, start the run again',
      });
      return { out, state: 'stopped', epochsDone: 0, counts: { clean: 0, relabeled: 0, ood: 0 } };
    }
  }
  let pretrainedInfo: Record<string, unknown> | null = null;
  if (pre && preEnc) {
    copyEncoderWeights(preEnc, trainer.query, { head: true });
    disposeEncoder(preEnc);
    preEnc = null;
    pretrainedInfo = {
      ...cfg.pretrained,
      file: pre.file,
      bytes: pre.bytes,
      ...(pre.origin ? { origin: pre.origin } : {}),
      loaded: preReport,
      normalisation: {
        mean: IMAGENET_MEAN,
        std: IMAGENET_STD,
        note: 'torchvision ImageNet statistics (0..1 pixel scale)',
      },
    };
    emit({
      type: 'log',
      level: 'info',
      message: `pretrained ${cfg.arch} weights loaded from ${pre.source}: ${preReport!.backbone} backbone tensors${preReport!.heads.length ? `, ${preReport!.heads.join(' + ')}` : ''}`,
    });
  }
  // the key encoder starts as a copy of the (initialised / pre-trained) query encoder, as at the start of any run
  if ((initInfo || pretrainInfo || pretrainedInfo) && trainer.key)
    copyEncoderWeights(trainer.query, trainer.key, { head: true });
  const sampling = {
    ...samplingSummary(cfg.sampling ?? 'uniform', trainIdx, labels, scan.classes),
    drawnFirstEpoch: null as number[] | null,
  };
  if (resume) {
    const m = loadCheckpoint(out, trainer);
    history = m.history.map((h) => withLossRecord(h) as unknown as EpochStats); // older checkpoints: flat loss fields
    wallBefore = m.wallSeconds;
    emit({ type: 'log', level: 'info', message: `resumed at epoch ${m.epoch + 1}, step ${m.step}` });
  }
  const runJson = (state: RunState, extra: Partial<RunJsonInput> = {}) => {
    const j: RunJsonInput = {
      version: RUN_JSON_VERSION,
      state,
      method: cfg.method,
      dataset: scan.root,
      out,
      createdAt: new Date(t0).toISOString(),
      config: cfg,
      adaptations,
      backend,
      model: { arch: cfg.arch, note: ARCHS[cfg.arch].note, params: paramCount(trainer.query) },
      normalisation: norm,
      datasetSummary: {
        classes: scan.classes,
        fingerprint: identity.fingerprint,
        counts: scan.classes.map((_, k) => scan.samples.filter((s) => s.classIndex === k).length),
        images: N,
        used: trainIdx.length,
        skipped: [...scan.skipped, ...load.skipped],
        warnings: scan.warnings,
        fixedLabels: fixed.reduce((a, b) => a + b, 0),
        excluded: (opts.excluded ?? []).length,
      },
      sampling,
      ...(initInfo ? { init: initInfo } : {}),
      ...(pretrainInfo ? { pretrain: pretrainInfo } : {}),
      ...((pretrainedInfo ?? cfg.pretrained) ? { pretrained: pretrainedInfo ?? cfg.pretrained } : {}),
      ...(frozenInfo ? { frozenBackbone: frozenInfo } : {}),
      epochs: history,
      wall: { trainSeconds: wallBefore + (Date.now() - t0) / 1000 },
      ...extra,
    };
    writeAtomicSync(path.join(out, RUN_JSON), JSON.stringify(j, null, 2));
  };
  let frozenInfo: Record<string, unknown> | null = null;
  const unfrozen = () => cfg.unfreezeAfter !== undefined && trainer.state.epoch >= cfg.unfreezeAfter;
  /** the heads back to raw backbone features (before the full network runs: unfreezing, final pass, model) */
  const toRawHeads = async () => {
    const f = trainer.frozen;
    if (!f?.mean || !f.std) return;
    await downloadVariables(); // webgpu: the fold reads the heads' weights synchronously
    for (const e of [trainer.query, trainer.key]) if (e) foldStandardiser(e, { mean: f.mean, std: f.std }, 'raw');
  };
  if (cfg.freezeBackbone && !unfrozen()) {
    // the feature cache is keyed by the hash of the backbone as it is now (the pretrained file's weights, or
    // after --init / --pretrain / a resumed checkpoint): never stale features for changed weights
    await downloadVariables(); // webgpu: the hash reads the weights synchronously
    const sha = encoderSha256(trainer.query);
    emit({
      type: 'log',
      level: 'info',
      message: `frozen backbone: computing ${cfg.arch} features of ${N} images and their mirrors (cached)`,
    });
    const fr = await frozenFeatures(trainer.query, load.pixels, N, cfg.imageSize, cfg.channels, norm, {
      cacheDir: opts.cacheDir ?? defaultCacheDir(),
      weightsSha256: sha,
      onProgress: (d, t) => emit({ type: 'phase', phase: 'features', done: d, total: t }),
    });
    // the heads train on standardised features (see featureStats); a resumed run's heads already live there
    const st = featureStats(fr.views, trainIdx, fr.dim);
    trainer.frozen = { views: fr.views, dim: fr.dim, ...st };
    if (!resume) {
      await downloadVariables(); // again: the feature pass moved the weights back onto the GPU
      for (const e of [trainer.query, trainer.key]) if (e) foldStandardiser(e, st, 'standardised');
    }
    frozenInfo = {
      views: ['image', 'mirror'],
      dim: fr.dim,
      cached: fr.cached,
      seconds: fr.seconds,
      imagesPerSec: fr.cached ? null : (2 * N) / Math.max(1e-9, fr.seconds),
      cacheKey: fr.key,
    };
    emit({
      type: 'log',
      level: 'info',
      message: fr.cached
        ? `frozen features from the cache (${fr.seconds.toFixed(1)} s)`
        : `frozen features: ${((2 * N) / Math.max(1e-9, fr.seconds)).toFixed(1)} images/s, ${fr.seconds.toFixed(1)} s`,
    });
  }
  if (!resume) sampling.drawnFirstEpoch = trainer.epochDraws();
  // --threads n: n data-parallel wasm replicas (data-parallel.ts), at most one per core. A run they do not apply to
  // (another backend, frozen-backbone heads) trains on one thread with a note; a replica that fails to start, with a
  // warning.
  let dp: DataParallel | null = null;
  held.push(() => dp?.close());
  const asked = opts.threads ?? 1;
  const threads = Math.min(asked, os.availableParallelism());
  if (threads < asked)
    emit({
      type: 'log',
      level: 'info',
      message: `--threads ${asked}: this machine has ${threads} core(s), so ${threads === 1 ? 'one thread' : `${threads} replicas`}`,
    });
  const notApplicable =
    backend.name !== 'wasm'
      ? `replicas run on wasm, this run uses ${backend.name}`
      : trainer.frozen
        ? 'frozen-backbone heads train on one thread (they are cheap already)'
        : null;
  if (threads > 1 && notApplicable)
    emit({ type: 'log', level: 'info', message: `--threads ${threads}: one thread (${notApplicable})` });
  else if (threads > 1) {
    try {
      dp = await DataParallel.start(trainer, threads, norm);
      const note = `${threads} data-parallel replicas, each step's ${cfg.batchSize} images split between them: BatchNorm statistics per replica (DDP without SyncBN, as the official code), evaluation with the replicas' running statistics averaged`;
      if (!adaptations.some((a) => a.includes('data-parallel replicas'))) adaptations.push(note);
      emit({ type: 'log', level: 'info', message: `training on ${note}` });
    } catch (e) {
      emit({
        type: 'log',
        level: 'warn',
        message: `--threads ${threads}: training on one thread (${e instanceof Error ? e.message : String(e)})`,
      });
    }
  }
  runJson('running');

  const totalSteps = cfg.epochs * trainer.stepsPerEpoch;
  const tStart = Date.now();
  let stepsThisSession = 0,
    stopped = false;
  while (trainer.state.epoch < cfg.epochs) {
    const epoch = trainer.state.epoch;
    if (trainer.frozen && unfrozen()) {
      await toRawHeads();
      trainer.frozen = null;
      emit({
        type: 'log',
        level: 'info',
        message: `epoch ${epoch + 1}: backbone unfrozen, fine-tuning the whole ${cfg.arch}`,
      });
    }
    const te = Date.now();
    const acc = { loss: 0, losses: zeroLosses(), relabeled: 0, ood: 0, n: 0, steps: 0 };
    while (trainer.state.epoch === epoch) {
      const ts = Date.now();
      const info = await (dp ? dp.step() : trainer.step());
      stepsThisSession++;
      acc.loss += info.loss;
      for (const n of LossName.options) acc.losses[n] += info.losses[n];
      acc.relabeled += info.relabeled;
      acc.ood += info.ood;
      acc.n += info.n;
      acc.steps++;
      const done =
        epoch * trainer.stepsPerEpoch + (trainer.state.epoch === epoch ? trainer.state.step : trainer.stepsPerEpoch);
      const ips = (stepsThisSession * cfg.batchSize) / ((Date.now() - tStart) / 1000);
      emit({
        type: 'step',
        epoch,
        epochs: cfg.epochs,
        step: trainer.state.epoch === epoch ? trainer.state.step : trainer.stepsPerEpoch,
        steps: trainer.stepsPerEpoch,
        loss: info.loss,
        imagesPerSec: info.n / Math.max(1e-3, (Date.now() - ts) / 1000),
        etaSeconds: ips > 0 ? ((totalSteps - done) * cfg.batchSize) / ips : null,
      });
      await new Promise((r) => setImmediate(r)); // lets a stop message in
      if (ctl.shouldStop() && trainer.state.epoch === epoch) {
        stopped = true;
        break;
      }
      if (ctl.maxSteps !== undefined && stepsThisSession >= ctl.maxSteps) break;
    }
    const secs = (Date.now() - te) / 1000;
    if (acc.steps) {
      const stats: EpochStats = {
        epoch,
        loss: acc.loss / acc.steps,
        losses: mapLosses((n) => acc.losses[n] / acc.steps),
        relabeled: acc.relabeled,
        ood: acc.ood,
        imagesPerSec: acc.n / secs,
        seconds: secs,
      };
      if (!stopped) {
        history.push(stats);
        emit({ type: 'epoch', stats });
      }
    }
    await downloadVariables(); // webgpu: the checkpoint reads the weights synchronously
    saveCheckpoint(out, trainer, history, wallBefore + (Date.now() - t0) / 1000, identity);
    emit({ type: 'checkpoint', epoch });
    runJson(stopped ? 'stopped' : 'running');
    if (stopped || ctl.shouldStop()) {
      stopped = true;
      break;
    }
    if (ctl.maxSteps !== undefined && stepsThisSession >= ctl.maxSteps) break;
  }
  // the final pass evaluates rank 0's BN running statistics: the replicas' mean, not rank 0's share alone
  if (dp && !stopped) await dp.averageRunningStats();
  await dp?.close();
  if (stopped) {
    runJson('stopped');
    return { out, state: 'stopped', epochsDone: history.length, counts: { clean: 0, relabeled: 0, ood: 0 } };
  }

  // final pass: eval mode, no augmentation, every sample (excluded/undecodable ones are reported as ood)
  const tf0 = Date.now();
  // webgpu runs the final forward pass (or the frozen heads' pass) and the kNN itself (read back with
  // `await data()`); the model writer reads synchronously, so it runs after continueOnSyncBackend (wasm)
  const finalAsync = readsOnlyAsync();
  const toSync = async (what: string) => {
    const on = await continueOnSyncBackend();
    if (on)
      emit({
        type: 'log',
        level: 'info',
        message: `${what} on ${on}: it reads tensors synchronously, which ${backend.name} cannot`,
      });
  };
  if (!finalAsync) await toSync('the final pass (and the model writer)');
  await toRawHeads();
  const passArgs: Parameters<typeof inferAll> = [
    trainer.query,
    N,
    (idx) => trainer.plainBatch(idx),
    finalChunk(cfg.imageSize),
    (d) => emit({ type: 'phase', phase: 'final-pass', done: d, total: N }),
    { feat: true, featDim: FINAL_FEAT_DIM },
  ];
  const heads = trainer.frozen && ([trainer.query, trainer.frozen.views[0], N, trainer.frozen.dim] as const);
  const inf = heads
    ? finalAsync
      ? await headsInferAllAsync(...heads)
      : headsInferAll(...heads)
    : finalAsync
      ? await inferAllAsync(...passArgs)
      : inferAll(...passArgs);
  const judged: Parameters<typeof judge> = [
    inf,
    labels,
    K,
    {
      method: cfg.method,
      protos: trainer.protos,
      tau: cfg.tau,
      alpha: cfg.finalAlpha ?? cfg.alpha,
      threshold: cfg.finalThreshold ?? cfg.threshold,
      oodScore: cfg.oodScore,
      statusRule: opts.statusRule ?? 'best',
      training: { method: cfg.method, epochsDone: history.length, cleanStartEpoch: cfg.cleanStartEpoch },
    },
    fixed,
    excluded,
  ];
  const res = finalAsync ? await judgeAsync(...judged) : judge(...judged);
  emit({ type: 'phase', phase: 'writing', done: 0, total: 1 });
  // counts as samples.csv states them (a human-confirmed correction is 'relabeled' there)
  res.counts = writeRunArrays(
    out,
    scan.samples.map((s) => ({ rel: s.rel, label: scan.classes[s.classIndex] })),
    scan.classes,
    res,
    inf.emb,
    inf.logits,
  );
  if (finalAsync) await toSync('the model writer');
  saveModel(
    out,
    {
      format: 'mopro-studio-model/1',
      arch: cfg.arch,
      method: cfg.method,
      classes: scan.classes,
      imageSize: cfg.imageSize,
      channels: cfg.channels,
      mean: norm.mean,
      std: norm.std,
      tau: cfg.tau,
      alpha: cfg.method === 'ce' ? 1 : (cfg.finalAlpha ?? cfg.alpha),
      threshold: cfg.finalThreshold ?? cfg.threshold,
      oodScore: cfg.oodScore,
    },
    trainer.query,
    res.protos,
    res.bank,
  );
  const finalSeconds = (Date.now() - tf0) / 1000;
  const trainImgs = history.reduce((s, e) => s + e.imagesPerSec * e.seconds, 0),
    trainSecs = history.reduce((s, e) => s + e.seconds, 0);
  runJson('done', {
    counts: res.counts,
    finalPass: { seconds: finalSeconds, oodScore: cfg.oodScore },
    statusRule: res.rule,
    suggestions: { trusted: res.rule.trusted, reason: res.rule.reason, advice: res.rule.advice },
    throughput: { trainImagesPerSec: trainImgs / Math.max(1e-9, trainSecs), backend: backend.name },
    memory: { rssMB: Math.round(process.memoryUsage().rss / 1e6), tfBytes: tf.memory().numBytes },
  });
  emit({ type: 'phase', phase: 'writing', done: 1, total: 1 });
  return { out, state: 'done', epochsDone: history.length, counts: res.counts };
}

/** sha256 of an encoder's backbone weights and BN statistics (the frozen-feature cache key when no weights file is named). */
function encoderSha256(enc: Encoder): string {
  const h = crypto.createHash('sha256');
  h.update(enc.arch);
  for (const m of [enc.params, enc.buffers])
    for (const [n, v] of m)
      if (!isHeadParam(n)) {
        h.update(n);
        h.update(new Uint8Array((v.dataSync() as Float32Array).slice().buffer));
      }
  return h.digest('hex');
}
