// A whole training run (scan, decode, train, final pass, write the run folder). Runs inside the worker
// (worker.ts) but is plain async code, so tests can call it in-thread too.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import type { EpochStats } from '../../src-shared/contract';
import { loadImages } from '../dataset/decode';
import { scanDataset } from '../dataset/scan';
import { RUN_JSON } from '../../src-shared/run-format';
import { writeAtomicSync } from '../util/atomic';
import { cacheDir as defaultCacheDir } from '../paths';
import { selectBackend } from './backend';
import { hasCheckpoint, loadCheckpoint, readCheckpointMeta, saveCheckpoint } from './checkpoint';
import { resolveConfig, type EngineConfig } from './config';
import { inferAll, judge, writeRunArrays } from './final-pass';
import { probeImages } from './image-info';
import { ARCHS, disposeEncoder, paramCount } from './model';
import { loadModel, readModelMeta, saveModel } from './model-io';
import { copyEncoderWeights } from './init-from-run';
import { samplingSummary } from './sampling';
import { Trainer, type TrainData } from './trainer';
import type { EngineEvent, RunResult, TrainOptions } from './types';

export interface RunControl { shouldStop(): boolean; overrides?: Partial<EngineConfig> }

/** Per-channel mean/std of the training pixels (0..1 scale), on a sample of rows for speed. */
export function pixelStats(pixels: Uint8Array, n: number, per: number, c: number, rows: Int32Array): { mean: number[]; std: number[] } {
  const s = new Float64Array(c), s2 = new Float64Array(c), cnt = new Float64Array(c);
  const step = Math.max(1, Math.floor(rows.length / 2000));
  for (let r = 0; r < rows.length; r += step) {
    const o = rows[r] * per;
    for (let t = 0; t < per; t++) { const v = pixels[o + t] / 255, ch = t % c; s[ch] += v; s2[ch] += v * v; cnt[ch]++; }
  }
  void n;
  const mean = Array.from(s, (v, i) => v / Math.max(1, cnt[i]));
  const std = Array.from(s2, (v, i) => Math.sqrt(Math.max(1e-6, v / Math.max(1, cnt[i]) - mean[i] ** 2)));
  return { mean, std };
}

export async function runTraining(opts: TrainOptions, emit: (e: EngineEvent) => void, ctl: RunControl): Promise<RunResult> {
  const t0 = Date.now();
  const out = path.resolve(opts.out);
  fs.mkdirSync(out, { recursive: true });
  const backend = await selectBackend(opts.backend);
  emit({ type: 'backend', ...backend });
  emit({ type: 'phase', phase: 'scan', done: 0, total: 1 });
  const scan = await scanDataset(opts.dataset, { onProgress: (d, t) => emit({ type: 'phase', phase: 'scan', done: d, total: t }) });
  for (const w of scan.warnings) emit({ type: 'log', level: 'warn', message: w });
  if (scan.classes.length < 2) throw new Error(`${scan.root}: found ${scan.classes.length} class folder(s) with images; MoPro needs at least 2 (one sub-folder per class)`);
  const resume = !!opts.resume && hasCheckpoint(out);
  if (opts.resume && !resume) emit({ type: 'log', level: 'warn', message: `no checkpoint in ${out}: starting from scratch` });
  const probe = await probeImages(scan.samples.map((s) => s.abs));
  let cfg: EngineConfig, adaptations: string[];
  if (resume) {
    cfg = readCheckpointMeta(out).config;
    let prev: string[] = [];
    try { prev = (JSON.parse(fs.readFileSync(path.join(out, RUN_JSON), 'utf8')) as { adaptations?: string[] }).adaptations ?? []; } catch { /* run.json missing: only the note below */ }
    adaptations = [...prev.filter((a) => !a.startsWith('resumed')), 'resumed from checkpoint: configuration of the original run'];
    if (opts.epochs && opts.epochs !== cfg.epochs) { cfg = { ...cfg, epochs: opts.epochs }; adaptations.push(`epochs changed to ${opts.epochs} on resume`); }
  } else {
    // --init: the earlier run's model fixes the arch and, unless given, the image size
    const initMeta = opts.init ? readModelMeta(path.resolve(opts.init)) : null;
    if (initMeta && initMeta.channels !== probe.channels) {
      throw new Error(`--init ${opts.init}: that model takes ${initMeta.channels}-channel images, this dataset has ${probe.channels}; pick a run trained on ${probe.channels === 1 ? 'greyscale' : 'colour'} images`);
    }
    if (initMeta && opts.arch && opts.arch !== initMeta.arch) throw new Error(`--init ${opts.init} is a ${initMeta.arch} model: drop --arch ${opts.arch} or pick a ${opts.arch} run`);
    ({ config: cfg, adaptations } = resolveConfig({ method: opts.method, epochs: opts.epochs, batchSize: opts.batchSize, imageSize: opts.imageSize ?? initMeta?.imageSize,
      arch: opts.arch ?? initMeta?.arch, seed: opts.seed,
      backend: backend.name, n: scan.samples.length, k: scan.classes.length, channels: probe.channels, nativeSize: probe.nativeSize, overrides: ctl.overrides }));
    if (opts.sampling === 'balanced') {
      cfg.sampling = 'balanced';
      adaptations.push('class-balanced sampling: image i drawn with weight N / N_class(i), N draws per epoch with replacement (seed 002; MoPro: uniform)');
    }
  }
  if (!ARCHS[cfg.arch]) throw new Error(`unknown --arch "${cfg.arch}": use one of ${Object.keys(ARCHS).join(', ')}`);
  emit({ type: 'log', level: 'info', message: `${scan.samples.length} images, ${scan.classes.length} classes; ${cfg.method} ${cfg.arch} ${cfg.imageSize}px x${cfg.channels}, ${cfg.epochs} epochs, batch ${cfg.batchSize}, backend ${backend.name}` });

  const load = await loadImages(scan.samples, { size: cfg.imageSize, channels: cfg.channels, cacheDir: opts.cacheDir ?? defaultCacheDir(),
    onProgress: (d, t) => emit({ type: 'phase', phase: 'decode', done: d, total: t }) });
  const N = scan.samples.length, K = scan.classes.length;
  const labels = Int32Array.from(scan.samples, (s) => s.classIndex);
  const fixed = new Uint8Array(N), excluded = new Uint8Array(N);
  const relIndex = new Map(scan.samples.map((s, i) => [s.rel, i] as const));
  for (const [rel, lab] of Object.entries(opts.fixedLabels ?? {})) {
    const i = relIndex.get(rel), k = scan.classes.indexOf(lab);
    if (i === undefined) continue;
    if (k < 0) { emit({ type: 'log', level: 'warn', message: `fixed label "${lab}" for ${rel} is not a class folder: ignored` }); continue; }
    labels[i] = k; fixed[i] = 1;
  }
  for (const rel of opts.excluded ?? []) { const i = relIndex.get(rel); if (i !== undefined) excluded[i] = 1; }
  load.ok.forEach((ok, i) => { if (!ok) excluded[i] = 1; });
  const trainIdx = Int32Array.from([...Array(N).keys()].filter((i) => !excluded[i]));
  if (trainIdx.length < cfg.batchSize) throw new Error(`${scan.root}: only ${trainIdx.length} usable images, fewer than the batch size ${cfg.batchSize}; add images or pass a smaller --batch-size`);
  const per = cfg.imageSize * cfg.imageSize * cfg.channels;
  const data: TrainData = { pixels: load.pixels, n: N, h: cfg.imageSize, w: cfg.imageSize, c: cfg.channels, labels, fixed, trainIdx, numClasses: K };
  const norm = pixelStats(load.pixels, N, per, cfg.channels, trainIdx);
  const trainer = new Trainer(cfg, data, norm);
  let history: EpochStats[] = [];
  let wallBefore = 0;
  let initInfo: Record<string, unknown> | null = null, pretrainInfo: Record<string, unknown> | null = null;
  if (!resume && opts.init) {
    const initDir = path.resolve(opts.init);
    const src = loadModel(initDir);
    const sameClasses = src.meta.classes.join('\u0000') === scan.classes.join('\u0000');
    const rep = copyEncoderWeights(src.enc, trainer.query, { head: sameClasses });
    disposeEncoder(src.enc);
    initInfo = { run: initDir, copied: rep.copied, skipped: rep.skipped, classifier: sameClasses ? 'copied (same classes)' : 'new (classes differ)' };
    adaptations.push(`encoder initialised from ${initDir} (${rep.copied} tensors; classifier ${sameClasses ? 'copied' : 'new'})`);
    emit({ type: 'log', level: 'info', message: `initialised from ${opts.init}: ${rep.copied} tensors copied${rep.skipped.length ? `, ${rep.skipped.length} left new` : ''}` });
  }
  if (!resume && opts.pretrain === 'permutation') {
    const grid = opts.pretrainGrid ?? (cfg.imageSize < 48 ? 2 : 3), epochs = opts.pretrainEpochs ?? 3;
    const tp = Date.now();
    emit({ type: 'log', level: 'info', message: `pre-training: tile permutations, grid ${grid}x${grid}, ${epochs} epoch(s)` });
    const { pretrainPermutation } = await import('./pretrain-permutation');
    const pre = await pretrainPermutation(trainer.query, data, norm, { epochs, grid, batchSize: cfg.batchSize, lr: cfg.lr, seed: cfg.seed, shouldStop: ctl.shouldStop,
      onStep: (i: { epoch: number; step: number; steps: number }) => emit({ type: 'phase', phase: 'pretrain', done: i.epoch * i.steps + i.step, total: epochs * i.steps }) });
    pretrainInfo = { task: 'permutation', grid, epochs, seconds: (Date.now() - tp) / 1000, history: pre.history };
    adaptations.push(`self-supervised warm start: ${epochs} epoch(s) un-shuffling ${grid}x${grid} tiles (Sinkhorn), then ${cfg.method}`);
    for (const h of pre.history) emit({ type: 'log', level: 'info', message: `pretrain epoch ${h.epoch + 1}: loss ${h.loss.toFixed(4)} tile accuracy ${(100 * h.accuracy).toFixed(1)}% ${h.seconds.toFixed(1)} s` });
    if (ctl.shouldStop()) {
      trainer.dispose();
      emit({ type: 'log', level: 'warn', message: 'stopped during pre-training: nothing to resume, start the run again' });
      return { out, state: 'stopped', epochsDone: 0, counts: { clean: 0, relabeled: 0, ood: 0 } };
    }
  }
  // the key encoder starts as a copy of the (initialised / pre-trained) query encoder, as at the start of any run
  if ((initInfo || pretrainInfo) && trainer.key) copyEncoderWeights(trainer.query, trainer.key, { head: true });
  const sampling = { ...samplingSummary(cfg.sampling ?? 'uniform', trainIdx, labels, scan.classes), drawnFirstEpoch: null as number[] | null };
  if (resume) {
    const m = loadCheckpoint(out, trainer);
    history = m.history; wallBefore = m.wallSeconds;
    emit({ type: 'log', level: 'info', message: `resumed at epoch ${m.epoch + 1}, step ${m.step}` });
  }
  const runJson = (state: string, extra: Record<string, unknown> = {}) => {
    writeAtomicSync(path.join(out, RUN_JSON), JSON.stringify({
      version: 1, state, method: cfg.method, dataset: scan.root, out, createdAt: new Date(t0).toISOString(),
      config: cfg, adaptations, backend,
      model: { arch: cfg.arch, note: ARCHS[cfg.arch].note, params: paramCount(trainer.query) },
      normalisation: norm,
      datasetSummary: { classes: scan.classes, counts: scan.classes.map((_, k) => scan.samples.filter((s) => s.classIndex === k).length), images: N,
        used: trainIdx.length, skipped: [...scan.skipped, ...load.skipped], warnings: scan.warnings, fixedLabels: fixed.reduce((a, b) => a + b, 0), excluded: (opts.excluded ?? []).length },
      sampling, ...(initInfo ? { init: initInfo } : {}), ...(pretrainInfo ? { pretrain: pretrainInfo } : {}),
      epochs: history, wall: { trainSeconds: wallBefore + (Date.now() - t0) / 1000 }, ...extra,
    }, null, 2));
  };
  if (!resume) sampling.drawnFirstEpoch = trainer.epochDraws();
  runJson('running');

  const totalSteps = cfg.epochs * trainer.stepsPerEpoch;
  const tStart = Date.now();
  let stepsThisSession = 0, stopped = false;
  while (trainer.state.epoch < cfg.epochs) {
    const epoch = trainer.state.epoch;
    const te = Date.now();
    const acc = { loss: 0, lossCe: 0, lossIns: 0, lossPro: 0, relabeled: 0, ood: 0, n: 0, steps: 0 };
    while (trainer.state.epoch === epoch) {
      const ts = Date.now();
      const info = trainer.step();
      stepsThisSession++;
      acc.loss += info.loss; acc.lossCe += info.lossCe; acc.lossIns += info.lossIns; acc.lossPro += info.lossPro;
      acc.relabeled += info.relabeled; acc.ood += info.ood; acc.n += info.n; acc.steps++;
      const done = epoch * trainer.stepsPerEpoch + (trainer.state.epoch === epoch ? trainer.state.step : trainer.stepsPerEpoch);
      const ips = (stepsThisSession * cfg.batchSize) / ((Date.now() - tStart) / 1000);
      emit({ type: 'step', epoch, epochs: cfg.epochs, step: trainer.state.epoch === epoch ? trainer.state.step : trainer.stepsPerEpoch, steps: trainer.stepsPerEpoch,
        loss: info.loss, imagesPerSec: info.n / Math.max(1e-3, (Date.now() - ts) / 1000), etaSeconds: ips > 0 ? ((totalSteps - done) * cfg.batchSize) / ips : null });
      await new Promise((r) => setImmediate(r)); // lets a stop message in
      if (ctl.shouldStop() && trainer.state.epoch === epoch) { stopped = true; break; }
    }
    const secs = (Date.now() - te) / 1000;
    if (acc.steps) {
      const stats: EpochStats = { epoch, loss: acc.loss / acc.steps, lossCe: acc.lossCe / acc.steps, lossIns: acc.lossIns / acc.steps, lossPro: acc.lossPro / acc.steps,
        relabeled: acc.relabeled, ood: acc.ood, imagesPerSec: acc.n / secs, seconds: secs };
      if (!stopped) { history.push(stats); emit({ type: 'epoch', stats }); }
    }
    saveCheckpoint(out, trainer, history, wallBefore + (Date.now() - t0) / 1000);
    emit({ type: 'checkpoint', epoch });
    runJson(stopped ? 'stopped' : 'running');
    if (stopped || ctl.shouldStop()) { stopped = true; break; }
  }
  if (stopped) {
    runJson('stopped');
    trainer.dispose();
    return { out, state: 'stopped', epochsDone: history.length, counts: { clean: 0, relabeled: 0, ood: 0 } };
  }

  // final pass: eval mode, no augmentation, every sample (excluded/undecodable ones are reported as ood)
  const tf0 = Date.now();
  const inf = inferAll(trainer.query, N, (idx) => trainer.plainBatch(idx), 256, (d) => emit({ type: 'phase', phase: 'final-pass', done: d, total: N }));
  const res = judge(inf, labels, K, { method: cfg.method, protos: trainer.protos, tau: cfg.tau, alpha: cfg.finalAlpha ?? cfg.alpha, threshold: cfg.finalThreshold ?? cfg.threshold, oodScore: cfg.oodScore }, fixed, excluded);
  emit({ type: 'phase', phase: 'writing', done: 0, total: 1 });
  // counts as samples.csv states them (a human-confirmed correction is 'relabeled' there)
  res.counts = writeRunArrays(out, scan.samples.map((s) => ({ rel: s.rel, label: scan.classes[s.classIndex] })), scan.classes, res, inf.emb, inf.logits);
  saveModel(out, { format: 'mopro-studio-model/1', arch: cfg.arch, method: cfg.method, classes: scan.classes, imageSize: cfg.imageSize, channels: cfg.channels,
    mean: norm.mean, std: norm.std, tau: cfg.tau, alpha: cfg.method === 'ce' ? 1 : (cfg.finalAlpha ?? cfg.alpha), threshold: cfg.finalThreshold ?? cfg.threshold, oodScore: cfg.oodScore }, trainer.query, res.protos, res.bank);
  const finalSeconds = (Date.now() - tf0) / 1000;
  const trainImgs = history.reduce((s, e) => s + e.imagesPerSec * e.seconds, 0), trainSecs = history.reduce((s, e) => s + e.seconds, 0);
  runJson('done', { counts: res.counts, finalPass: { seconds: finalSeconds, oodScore: cfg.oodScore, statusRule: 'mopro.md §2 (q[y] > 1/K keep, max q > T relabel, else ood)' },
    throughput: { trainImagesPerSec: trainImgs / Math.max(1e-9, trainSecs), backend: backend.name }, memory: { rssMB: Math.round(process.memoryUsage().rss / 1e6), tfBytes: tf.memory().numBytes } });
  emit({ type: 'phase', phase: 'writing', done: 1, total: 1 });
  trainer.dispose();
  return { out, state: 'done', epochsDone: history.length, counts: res.counts };
}
