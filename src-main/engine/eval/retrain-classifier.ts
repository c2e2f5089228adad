// `mopro retrain-classifier <run>`: classifier re-training (cRT) as classifier_retrain.py does it (mopro.md §5):
// the encoder frozen in eval mode (BN frozen), the linear classifier started from the run's classifier and
// trained on the cleaned labels (clean + relabelled samples; OOD left out) with class-rebalanced resampling
// each epoch: repeat factor per class int(10 sqrt(n_max / n_c)), shuffle, truncate to the original size.
// SGD lr 0.01, momentum 0.9, wd 0, batch 256, x0.1 at epochs 5 and 10, 15 epochs. Writes a NEW run folder.
// Adaptation: the frozen encoder's features are computed once, for each image and its mirror image, and the
// view is drawn per sample and step (the official code runs the encoder on random crops every step; with a
// frozen encoder that only re-samples augmentation, which costs a forward pass per image per epoch on a CPU).
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { loadPixelSource } from '../../dataset/decode';
import { cacheDir as defaultCacheDir } from '../../paths';
import { DECISIONS_JSON, RUN_JSON, SAMPLES_CSV, SAMPLES_HEADER } from '../../../src-shared/run-format';
import { migrateRunJson, parseRunJson, type RunJsonInput } from '../../../src-shared/run-json';
import { parseCsv } from '../../util/csv';
import { writeAtomicSync } from '../../util/atomic';
import { continueOnSyncBackend, selectBackend } from '../backends/backend';
import { readsOnlyAsync } from '../backends/read-back';
import { extractFeaturesAsync, gatherRows } from './features';
import { judge, judgeAsync, writeRunArrays } from './final-pass';
import { headLogits, trainLinearHeadAsync } from './linear-head';
import { disposeEncoder } from '../nets/model';
import { loadModel, saveModel } from '../nets/model-io';
import { Rng } from '../../../src-shared/rng';
import type { EngineEvent, TrainOptions } from '../types';

/** int(10 sqrt(n_max / n_c)) per class; 0 for a class with no cleaned samples. */
export function crtRepeatFactors(counts: number[]): number[] {
  const nmax = Math.max(0, ...counts);
  return counts.map((c) => (c > 0 ? Math.floor(10 * Math.sqrt(nmax / c)) : 0));
}

/** One epoch of class-rebalanced resampling: every row repeated by its class factor, shuffled, cut to n rows. */
export function crtEpochOrder(labels: Int32Array, factors: number[], rng: Rng): Int32Array {
  const rep: number[] = [];
  for (let i = 0; i < labels.length; i++) for (let r = 0; r < factors[labels[i]]; r++) rep.push(i);
  const p = rng.permutation(rep.length);
  return Int32Array.from({ length: Math.min(labels.length, rep.length) }, (_, j) => rep[p[j]]);
}

/** classifier_retrain.py's schedule: 0.01, x0.1 at epochs 5 and 10. */
export function crtLr(epoch: number, base = 0.01): number {
  return base * (epoch >= 10 ? 0.01 : epoch >= 5 ? 0.1 : 1);
}

export interface RetrainOptions {
  run: string;
  out?: string;
  epochs?: number;
  seed?: number;
  backend?: TrainOptions['backend'];
  cacheDir?: string;
}
export interface RetrainResult {
  out: string;
  counts: { clean: number; relabeled: number; ood: number };
  trainRows: number;
  perClass: { before: number[]; after: number[] };
  losses: number[];
}

export async function retrainClassifier(
  o: RetrainOptions,
  emit: (e: EngineEvent) => void = () => {},
): Promise<RetrainResult> {
  const run = path.resolve(o.run);
  const runJsonFile = path.join(run, RUN_JSON);
  if (!fs.existsSync(runJsonFile))
    throw new Error(`${runJsonFile} not found: give a finished run folder (mopro train ... --out <run>)`);
  const runJsonText = fs.readFileSync(runJsonFile, 'utf8');
  const rj = parseRunJson(runJsonText, runJsonFile, run);
  if (rj.state !== 'done')
    throw new Error(`${run}: the run is ${rj.state}; finish it first (mopro train ... --resume)`);
  const out = path.resolve(o.out ?? `${run.replace(/[\\/]+$/, '')}-crt`);
  if (out === run) throw new Error(`--out ${out} is the source run: give a new folder`);
  if (fs.existsSync(out) && fs.readdirSync(out).length)
    throw new Error(`${out} is not empty: give a new folder for the re-trained run`);
  const backend = await selectBackend(o.backend ?? 'auto', undefined, { webgpu: true });
  emit({ type: 'backend', ...backend });
  const { meta, enc, protos } = loadModel(run);
  try {
    const rows = parseCsv(
      fs.readFileSync(path.join(run, SAMPLES_CSV), 'utf8'),
      SAMPLES_HEADER,
      path.join(run, SAMPLES_CSV),
    );
    const K = meta.classes.length,
      classIdx = new Map(meta.classes.map((c, k) => [c, k] as const));
    const dataset = rj.dataset;
    if (!fs.existsSync(dataset))
      throw new Error(`${dataset} (the run's dataset) is gone: cRT needs the images; restore the folder`);
    const load = await loadPixelSource(
      rows.map((r) => ({ abs: path.join(dataset, ...r.path.split('/')), rel: r.path })),
      {
        size: meta.imageSize,
        channels: meta.channels,
        cacheDir: o.cacheDir ?? defaultCacheDir(),
        onProgress: (d, t) => emit({ type: 'phase', phase: 'decode', done: d, total: t }),
      },
    );
    for (const s of load.skipped) emit({ type: 'log', level: 'warn', message: `skipped ${s.path}: ${s.reason}` });
    const N = rows.length,
      all = Int32Array.from({ length: N }, (_, i) => i);
    const norm = { mean: meta.mean, std: meta.std };
    const f0 = await extractFeaturesAsync(enc, load.pixels, all, meta.imageSize, meta.channels, norm, {
      onProgress: (d) => emit({ type: 'phase', phase: 'final-pass', done: d, total: 2 * N }),
    });
    const f1 = await extractFeaturesAsync(enc, load.pixels, all, meta.imageSize, meta.channels, norm, {
      flip: true,
      onProgress: (d) => emit({ type: 'phase', phase: 'final-pass', done: N + d, total: 2 * N }),
    });
    load.pixels.close();
    // training rows: the run's cleaned list (clean + relabelled, decodable), labelled with the corrected label
    const use = [...all].filter((i) => load.ok[i] && rows[i].status !== 'ood' && classIdx.has(rows[i].corrected_label));
    const F = f0.dim,
      n = use.length;
    const x0 = gatherRows(f0.feat, use, F),
      x1 = gatherRows(f1.feat, use, F);
    const y = Int32Array.from(use, (i) => classIdx.get(rows[i].corrected_label)!);
    const before = new Array<number>(K).fill(0);
    for (const k of y) before[k]++;
    const factors = crtRepeatFactors(before);
    const rng = new Rng((o.seed ?? rj.config.seed ?? 1) * 31 + 7);
    const after = new Array<number>(K).fill(0);
    const epochs = o.epochs ?? 15;
    const wInit = enc.params.get('cls/w')!,
      bInit = enc.params.get('cls/b')!;
    const { head, losses } = await trainLinearHeadAsync(x0, y, F, K, {
      epochs,
      batchSize: 256,
      lr: (e) => crtLr(e),
      momentum: 0.9,
      weightDecay: 0,
      order: (e) => {
        const ord = crtEpochOrder(y, factors, rng);
        if (e === 0) for (const i of ord) after[y[i]]++;
        return ord;
      },
      views: [x0, x1],
      pickView: () => (rng.next() < 0.5 ? 0 : 1),
      init: { w: Float32Array.from(await wInit.data()), b: Float32Array.from(await bInit.data()) },
      onEpoch: (e, loss) =>
        emit({ type: 'log', level: 'info', message: `cRT epoch ${e + 1}/${epochs}: loss ${loss.toFixed(4)}` }),
    });
    // the final pass is re-judged with the new classifier (embeddings are unchanged)
    const logits = headLogits(head, f0.feat, N);
    const given = Int32Array.from(rows, (r) => classIdx.get(r.given_label) ?? 0);
    const excluded = Uint8Array.from(all, (i) => (load.ok[i] ? 0 : 1));
    let fixed = new Uint8Array(N);
    const decisions = path.join(run, DECISIONS_JSON);
    if (fs.existsSync(decisions)) {
      const dec = JSON.parse(fs.readFileSync(decisions, 'utf8')) as {
        fixedLabels?: Record<string, string>;
        excluded?: string[];
      };
      const at = new Map(rows.map((r, i) => [r.path, i] as const));
      fixed = new Uint8Array(N);
      for (const [p, lab] of Object.entries(dec.fixedLabels ?? {})) {
        const i = at.get(p);
        if (i !== undefined && classIdx.has(lab)) {
          fixed[i] = 1;
          given[i] = classIdx.get(lab)!;
        }
      }
      for (const p of dec.excluded ?? []) {
        const i = at.get(p);
        if (i !== undefined) excluded[i] = 1;
      }
      fs.mkdirSync(out, { recursive: true });
      fs.copyFileSync(decisions, path.join(out, DECISIONS_JSON));
    }
    emit({ type: 'phase', phase: 'writing', done: 0, total: 1 });
    const judged: Parameters<typeof judge> = [
      { logits, emb: f0.emb, feat: f0.feat },
      given,
      K,
      {
        method: meta.method,
        protos,
        tau: meta.tau,
        alpha: meta.alpha,
        threshold: meta.threshold,
        oodScore: meta.oodScore,
      },
      fixed,
      excluded,
    ];
    // the neighbour search on the pass's backend (webgpu reads only asynchronously); the model writer reads
    // synchronously, so after webgpu it runs on wasm (the variables are downloaded first)
    const res = readsOnlyAsync() ? await judgeAsync(...judged) : judge(...judged);
    const syncOn = await continueOnSyncBackend();
    if (syncOn)
      emit({
        type: 'log',
        level: 'info',
        message: `the model written on ${syncOn}: it reads tensors synchronously, which ${backend.name} cannot`,
      });
    // the new classifier into the model
    tf.tidy(() => {
      wInit.assign(tf.tensor2d(head.w, [F, K]));
      bInit.assign(tf.tensor1d(head.b));
    });
    fs.mkdirSync(out, { recursive: true });
    res.counts = writeRunArrays(
      out,
      rows.map((r) => ({ rel: r.path, label: r.given_label })),
      meta.classes,
      res,
      f0.emb,
      logits,
    );
    saveModel(out, meta, enc, res.protos, res.bank);
    const crt = {
      from: run,
      epochs,
      batchSize: 256,
      lr: '0.01, x0.1 at epochs 5 and 10',
      momentum: 0.9,
      weightDecay: 0,
      trainRows: n,
      repeatFactors: factors,
      perClass: { before, after },
      losses,
      views: 'image and its mirror, drawn per sample (features precomputed: encoder frozen)',
    };
    // the source run's run.json (every key it recorded, older shapes migrated) with the cRT's keys on top
    const changes: Partial<RunJsonInput> = {
      out,
      state: 'done',
      createdAt: new Date().toISOString(),
      parent: run,
      crt,
      counts: res.counts,
      statusRule: res.rule,
      suggestions: { trusted: res.rule.trusted, reason: res.rule.reason, advice: res.rule.advice },
      adaptations: [...(rj.adaptations ?? []), `classifier re-trained (cRT) on ${n} cleaned samples from ${run}`],
    };
    const source = migrateRunJson(JSON.parse(runJsonText), run) as Record<string, unknown>;
    writeAtomicSync(path.join(out, RUN_JSON), JSON.stringify({ ...source, ...changes }, null, 2));
    emit({ type: 'phase', phase: 'writing', done: 1, total: 1 });
    return { out, counts: res.counts, trainRows: n, perClass: { before, after }, losses };
  } finally {
    disposeEncoder(enc);
  }
}
