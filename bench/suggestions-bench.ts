// `npm run bench:suggestions` — how right are the suggestions a reviewer sees (samples.csv's status column),
// with the app's defaults, next to a peer baseline on the same images and network.
//
//   npm run bench:suggestions -- [--cases sample,2k,10k] [--seeds 1,2,3] [--preset quick|balanced] [--epochs E] [--peer-epochs E]
//        [--jobs J] [--methods ours,peer] [--folds 5] [--k 10] [--backend auto] [--threads N] [--reuse none|peer|all]
//        [--tag name]
//        [--rejudge] [--from-runs]
//
// ours: `mopro train` as the app's preset would start it (default: Quick, the app's default preset = --epochs
//   clamp(round(12000 / images), 5, 40); balanced = the engine's default schedule, no --epochs), then `predict`
//   on a clean test folder.
// peer: confident learning (Northcutt et al., JAIR 2021; bench/confident-learning.ts): out-of-fold
//   probabilities from K-fold cross-validated plain-CE training of the same network (`train --method ce`, the
//   held-out fold excluded through --decisions, its rows read from arrays/logits.f32), the confident joint,
//   prune by noise rate, relabel = argmax; OOD candidates from a kNN cosine-distance score on the pooled
//   features of a CE model trained on all images, cut by the app's per-run rule for a score without neighbour
//   labels (status-rule.ts: two-Gaussian mixture, capped at 30%). Its test top-1 is that all-images CE model's.
// --reuse peer|all keeps finished runs whose config matches a fresh one (method, arch, batch, epochs, seed);
// --rejudge re-runs the final pass (inference + status rule) of each reused `ours` run with the current code,
// so a status-rule change can be scored without retraining (training-side changes still need a fresh run);
// --from-runs trains nothing: it scores the finished runs there are (any epochs; the table says which) and
// leaves out a method whose runs for a case x seed are missing.
// Both are scored by ../shared/bench/evaluate.mjs (bench/score.ts). Mean ± sd over the training seeds. Runs and
// the tables go under bench-data/suggestions/.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadImages } from '../src-main/dataset/decode';
import { scanDataset } from '../src-main/dataset/scan';
import { selectBackend } from '../src-main/engine/backends/backend';
import { resolveConfig } from '../src-main/engine/train/config';
import { extractFeatures, pixelBatch } from '../src-main/engine/eval/features';
import { FINAL_FEAT_DIM, inferAll, judge, writeRunArrays } from '../src-main/engine/eval/final-pass';
import { disposeEncoder } from '../src-main/engine/nets/model';
import { loadModel } from '../src-main/engine/nets/model-io';
import { softmaxRows } from '../src-main/engine/mopro/noise-cleaning';
import { MAX_OOD_SHARE, oodThreshold, topShareThreshold, WEAK_OOD_SHARE } from '../src-main/engine/eval/status-rule';
import { cacheDir } from '../src-main/paths';
import { SAMPLES_CSV } from '../src-shared/run-format';
import { parseCsv } from '../src-main/util/csv';
import { findLabelIssues, knnDistanceScores, stratifiedFolds } from './confident-learning';
import { evaluate } from './score';
import {
  cell,
  cli,
  dataDir,
  generatedCase,
  list,
  makeFolder,
  parseArgs,
  quickEpochs,
  readRunJson,
  root,
  type Case,
  type RunJson,
} from './bench-runs';

const outDir = path.join(dataDir, 'suggestions');

const args = parseArgs(process.argv.slice(2));
const cfg = {
  cases: list(args.cases, 'sample,2k,10k'),
  seeds: list(args.seeds, '1,2,3').map(Number),
  preset: String(args.preset ?? 'quick'),
  epochs: args.epochs ? Number(args.epochs) : undefined,
  peerEpochs: args['peer-epochs'] ? Number(args['peer-epochs']) : undefined,
  jobs: Math.max(1, Number(args.jobs ?? 1)),
  methods: list(args.methods, 'ours,peer'),
  folds: Number(args.folds ?? 5),
  k: Number(args.k ?? 10),
  backend: String(args.backend ?? 'auto'),
  /** `ours` trains on N data-parallel wasm replicas (train --threads N); the peer's CE folds stay on one */
  threads: Math.max(1, Number(args.threads ?? 1)),
  reuse: String(args.reuse ?? 'none') as 'none' | 'peer' | 'all',
  tag: args.tag ? String(args.tag) : new Date().toISOString().replace(/[:.]/g, '-'),
  rejudge: Boolean(args.rejudge),
  fromRuns: Boolean(args['from-runs']),
};
if (!['quick', 'balanced'].includes(cfg.preset)) throw new Error('--preset: quick or balanced');
for (const c of cfg.cases)
  if (!['sample', '2k', '10k'].includes(c)) throw new Error(`--cases: unknown case "${c}" (sample, 2k, 10k)`);
for (const m of cfg.methods)
  if (!['ours', 'peer'].includes(m)) throw new Error(`--methods: unknown "${m}" (ours, peer)`);
if (!['none', 'peer', 'all'].includes(cfg.reuse)) throw new Error('--reuse: none, peer or all');
if (cfg.seeds.some((s) => !Number.isInteger(s))) throw new Error('--seeds: integers, e.g. 1,2,3');

function log(msg: string) {
  process.stderr.write(`[suggestions ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------- cases and data
function caseDef(id: string): Case {
  if (id === '2k') return generatedCase(id, 2000, 1000);
  if (id === '10k') return generatedCase(id, 10000, 2000);
  // the bundled sample has no test folder: the first 1000 Fashion-MNIST test images (disjoint from the train split)
  const test = path.join(outDir, 'data', 'fm-test-1000');
  return {
    id,
    noisy: path.join(root, 'resources', 'sample'),
    truth: path.join(root, 'resources', 'sample.truth.jsonl'),
    test,
    make: [
      '--out',
      path.join(outDir, 'data', 'unused-train'),
      '--n',
      '100',
      '--test-out',
      test,
      '--test-n',
      '1000',
      '--seed',
      '1',
    ],
  };
}

function ensureData(c: Case) {
  if (fs.existsSync(c.truth) && fs.existsSync(c.test)) return;
  fs.mkdirSync(path.join(outDir, 'data'), { recursive: true });
  log(`generating data for case ${c.id}`);
  makeFolder(c.make!);
}

// ---------------------------------------------------------------- CLI runs
async function pool(tasks: (() => Promise<void>)[], jobs: number) {
  let next = 0;
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
      while (next < tasks.length) {
        const t = tasks[next++];
        try {
          await t();
        } catch (e) {
          errors.push(e);
          log(`FAILED: ${(e as Error).message}`);
        }
      }
    }),
  );
  if (errors.length) throw new Error(`${errors.length} task(s) failed; first: ${(errors[0] as Error).message}`);
}

/** The configuration a plain `train` would pick for this folder (the app's defaults), for reuse checks and the report. */
const scans = new Map<string, ReturnType<typeof scanDataset>>();
const scanOnce = (dir: string) => {
  if (!scans.has(dir)) scans.set(dir, scanDataset(dir));
  return scans.get(dir)!;
};

/**
 * The epochs the app's preset starts a run with on a folder of `images` images (the presets of
 * src-renderer/src/stores/train.ts: Quick = 12k image passes within 5..40 epochs; Balanced leaves the epochs
 * to the engine). --epochs overrides.
 */
function presetEpochs(images: number): number | undefined {
  if (cfg.epochs) return cfg.epochs;
  return cfg.preset === 'quick' ? quickEpochs(images) : undefined;
}

async function expectedConfig(
  c: Case,
  method: 'mopro' | 'ce',
  seed: number,
  epochs: number | undefined,
  backend: string,
) {
  const scan = await scanOnce(c.noisy);
  return resolveConfig({
    method,
    epochs,
    seed,
    backend,
    n: scan.samples.length,
    k: scan.classes.length,
    channels: 1,
    nativeSize: 28,
  }).config;
}

/** Data-parallel replicas a finished run trained on (run.json's adaptations name them; 1 when none). */
function replicas(rj: { adaptations?: string[] }): number {
  const m = (rj.adaptations ?? []).map((a) => /^(\d+) data-parallel replicas/.exec(a)).find(Boolean);
  return m ? Number(m[1]) : 1;
}

/** A finished run with the same method, arch, batch, epochs, seed and replicas as a fresh one would have. */
function reusable(
  run: string,
  want: { epochs: number; batchSize: number; arch: string; seed: number; method: string; replicas: number },
  excluded: number,
): boolean {
  const rj = readRunJson(run);
  if (!rj || rj.state !== 'done' || !rj.config || !fs.existsSync(path.join(run, SAMPLES_CSV))) return false;
  const c = rj.config;
  return (
    (cfg.fromRuns || c.epochs === want.epochs) &&
    c.batchSize === want.batchSize &&
    c.arch === want.arch &&
    c.seed === want.seed &&
    c.method === want.method &&
    replicas(rj) === want.replicas &&
    (rj.datasetSummary?.excluded ?? 0) === excluded
  );
}

// ---------------------------------------------------------------- one case x seed
interface Score {
  [k: string]: any;
}
interface SeedResult {
  ours?: Score;
  peer?: Score;
}

function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
}

let backendReady: Promise<unknown> | null = null;

/** Pooled backbone features of a run's model for every image of the dataset, in scan order. */
async function runFeatures(run: string, dataset: string): Promise<{ feat: Float32Array; dim: number; rels: string[] }> {
  backendReady ??= selectBackend(cfg.backend as 'auto');
  await backendReady;
  const { meta, enc } = loadModel(run);
  try {
    const scan = await scanDataset(dataset);
    const load = await loadImages(scan.samples, {
      size: meta.imageSize,
      channels: meta.channels,
      cacheDir: cacheDir(),
    });
    const rows = Int32Array.from(scan.samples.keys());
    const f = extractFeatures(enc, load.pixels, rows, meta.imageSize, meta.channels, meta);
    return { feat: f.feat, dim: f.dim, rels: scan.samples.map((s) => s.rel) };
  } finally {
    disposeEncoder(enc);
  }
}

/**
 * The final pass of a finished run again with the current code: eval-mode inference from model/, then judge()
 * with the run's own constants and training facts, written to <run>/rejudged/ (samples.csv + arrays).
 */
async function rejudge(run: string, dataset: string): Promise<string> {
  backendReady ??= selectBackend(cfg.backend as 'auto');
  await backendReady;
  const rj = readRunJson(run) as RunJson & { config: Record<string, any>; epochs?: unknown[] };
  const { meta, enc, protos } = loadModel(run);
  const mean = tf.tensor1d(meta.mean),
    std = tf.tensor1d(meta.std);
  try {
    const scan = await scanDataset(dataset);
    const load = await loadImages(scan.samples, {
      size: meta.imageSize,
      channels: meta.channels,
      cacheDir: cacheDir(),
    });
    const N = scan.samples.length,
      K = scan.classes.length;
    const labels = Int32Array.from(scan.samples, (x) => x.classIndex);
    const excluded = Uint8Array.from(load.ok, (ok) => (ok ? 0 : 1));
    const inf = inferAll(
      enc,
      N,
      (idx) => pixelBatch(load.pixels, idx, meta.imageSize, meta.channels, mean, std),
      256,
      undefined,
      { feat: true, featDim: FINAL_FEAT_DIM },
    );
    const c = rj.config;
    const res = judge(
      inf,
      labels,
      K,
      {
        method: meta.method,
        protos,
        tau: meta.tau,
        alpha: meta.alpha,
        threshold: meta.threshold,
        oodScore: meta.oodScore,
        statusRule: 'best',
        training: {
          method: meta.method,
          epochsDone: rj.epochs?.length ?? c.epochs,
          cleanStartEpoch: c.cleanStartEpoch,
        },
      },
      new Uint8Array(N),
      excluded,
    );
    const out = path.join(run, 'rejudged');
    writeRunArrays(
      out,
      scan.samples.map((x) => ({ rel: x.rel, label: scan.classes[x.classIndex] })),
      scan.classes,
      res,
      inf.emb,
      inf.logits,
    );
    fs.writeFileSync(path.join(out, 'rule.json'), JSON.stringify(res.rule, null, 2));
    return out;
  } finally {
    mean.dispose();
    std.dispose();
    disposeEncoder(enc);
  }
}

interface SampleRow {
  path: string;
  given_label: string;
}

async function peerAnalysis(
  c: Case,
  dir: string,
  classes: string[],
  folds: Int32Array,
  rows: SampleRow[],
): Promise<Score> {
  const t0 = Date.now();
  const N = rows.length,
    K = classes.length;
  const labels = Int32Array.from(rows, (r) => classes.indexOf(r.given_label));
  const P = new Float32Array(N * K);
  for (let f = 0; f < cfg.folds; f++) {
    const run = path.join(dir, `ce-fold${f}`);
    const order = parseCsv(fs.readFileSync(path.join(run, SAMPLES_CSV), 'utf8')).map((r) => r.path);
    if (order.length !== N || order.some((p, i) => p !== rows[i].path))
      throw new Error(`${run}: samples.csv rows differ from the CE run's`);
    const p = softmaxRows(readF32(path.join(run, 'arrays', 'logits.f32')), N, K);
    for (let i = 0; i < N; i++) if (folds[i] === f) P.set(p.subarray(i * K, (i + 1) * K), i * K);
  }
  const cl = findLabelIssues({ p: P, n: N, K }, labels);
  const ftr = await runFeatures(path.join(dir, 'ce'), c.noisy);
  if (ftr.rels.some((r, i) => r !== rows[i].path)) throw new Error(`${dir}: feature rows differ from samples.csv`);
  const ood = knnDistanceScores(ftr.feat, N, ftr.dim, cfg.k);
  // the app's per-run threshold rule for a score without neighbour labels (status-rule.ts bestStatuses): the
  // two-Gaussian mixture, and only the top WEAK_OOD_SHARE when it would flag more than MAX_OOD_SHARE
  const cut = oodThreshold(ood);
  let thr = cut.threshold,
    rule = cut.reason;
  if (ood.filter((x) => x > thr).length > MAX_OOD_SHARE * N) {
    thr = topShareThreshold(ood, WEAK_OOD_SHARE);
    rule += `; over ${100 * MAX_OOD_SHARE}%: top ${100 * WEAK_OOD_SHARE}% only`;
  }
  let argmaxIsGiven = 0;
  const out = rows.map((r, i) => {
    const y = labels[i],
      s = cl.suggestion[i];
    if (ood[i] > thr) return [r.path, r.given_label, '', 'ood', (1 - P[i * K + y]).toFixed(6), ood[i].toFixed(6)];
    if (cl.flagged[i] && s !== y)
      return [r.path, r.given_label, classes[s], 'relabeled', cl.confidence[i].toFixed(6), ood[i].toFixed(6)];
    if (cl.flagged[i]) argmaxIsGiven++;
    return [r.path, r.given_label, r.given_label, 'clean', P[i * K + y].toFixed(6), ood[i].toFixed(6)];
  });
  const peerDir = path.join(dir, 'peer');
  fs.mkdirSync(peerDir, { recursive: true });
  const q = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  fs.writeFileSync(
    path.join(peerDir, SAMPLES_CSV),
    ['path,given_label,corrected_label,status,confidence,ood_score', ...out.map((r) => r.map(q).join(','))].join('\n') +
      '\n',
  );
  const score = evaluate(c.truth, path.join(peerDir, SAMPLES_CSV), path.join(dir, 'ce', 'test-predictions.csv'));
  const flagged = cl.flagged.reduce((a, b) => a + b, 0);
  return {
    ...score,
    cl: {
      flagged,
      flaggedArgmaxIsGiven: argmaxIsGiven,
      thresholds: Array.from(cl.thresholds),
      oodThreshold: Number.isFinite(thr) ? thr : null,
      oodRule: rule,
      k: cfg.k,
      folds: cfg.folds,
      seconds: (Date.now() - t0) / 1000,
    },
  };
}

async function runCaseSeed(
  c: Case,
  seed: number,
): Promise<{ tasks: (() => Promise<void>)[]; finish: () => Promise<SeedResult> }> {
  const dir = path.join(outDir, 'runs', c.id, `seed${seed}`);
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'log.txt');
  const res: SeedResult = {};
  const tasks: (() => Promise<void>)[] = [];
  const walls: Record<string, number> = {};
  const missing = new Set<string>();
  const threadsOf = (name: string) => (name === 'ours' ? cfg.threads : 1);
  const train = async (
    name: string,
    method: 'mopro' | 'ce',
    epochs: number | undefined,
    extra: string[],
    excluded: number,
    reuse: boolean,
    predict: boolean,
  ) => {
    const run = path.join(dir, name);
    const prev = readRunJson(run) as { backend?: { name?: string } } | null;
    if (
      (reuse || cfg.fromRuns) &&
      prev &&
      reusable(
        run,
        { ...(await expectedConfig(c, method, seed, epochs, prev.backend?.name ?? 'wasm')), replicas: threadsOf(name) },
        excluded,
      ) &&
      (!predict || fs.existsSync(path.join(run, 'test-predictions.csv')))
    ) {
      log(`${c.id} seed ${seed}: reusing ${name}`);
      walls[name] = readRunJson(run)?.wall?.trainSeconds ?? NaN;
      return;
    }
    if (cfg.fromRuns) {
      missing.add(name === 'ours' ? 'ours' : 'peer');
      log(`${c.id} seed ${seed}: no finished ${name} run: left out`);
      return;
    }
    fs.rmSync(run, { recursive: true, force: true });
    log(`${c.id} seed ${seed}: training ${name}`);
    const argv = [
      'train',
      c.noisy,
      '--out',
      run,
      '--method',
      method,
      '--backend',
      cfg.backend,
      '--seed',
      String(seed),
      ...extra,
    ];
    if (epochs) argv.push('--epochs', String(epochs));
    if (threadsOf(name) > 1) argv.push('--threads', String(threadsOf(name)));
    const tr = await cli(argv, logFile);
    if (tr.code !== 0)
      throw new Error(`${c.id} seed ${seed}: training ${name} failed (exit ${tr.code}); see ${logFile}`);
    // the engine's own training time (scan to written run folder), the same figure a reused run reports
    walls[name] = readRunJson(run)?.wall?.trainSeconds ?? tr.wallSeconds;
    if (predict) {
      const pr = await cli(
        ['predict', run, c.test, '--out', path.join(run, 'test-predictions.csv'), '--backend', cfg.backend],
        logFile,
      );
      if (pr.code !== 0)
        throw new Error(`${c.id} seed ${seed}: predict ${name} failed (exit ${pr.code}); see ${logFile}`);
    }
    log(`${c.id} seed ${seed}: ${name} done in ${tr.wallSeconds.toFixed(0)} s`);
  };
  let folds: Int32Array | null = null,
    rows: SampleRow[] = [],
    classes: string[] = [];
  const epochs = presetEpochs((await scanOnce(c.noisy)).samples.length),
    peerEpochs = cfg.peerEpochs ?? epochs;
  if (cfg.methods.includes('ours')) tasks.push(() => train('ours', 'mopro', epochs, [], 0, cfg.reuse === 'all', true));
  if (cfg.methods.includes('peer')) {
    const scan = await scanOnce(c.noisy);
    classes = scan.classes;
    rows = scan.samples.map((s) => ({ path: s.rel, given_label: scan.classes[s.classIndex] }));
    folds = stratifiedFolds(
      Int32Array.from(scan.samples, (s) => s.classIndex),
      cfg.folds,
      seed,
    );
    const reuse = cfg.reuse !== 'none';
    tasks.push(() => train('ce', 'ce', peerEpochs, [], 0, reuse, true));
    for (let f = 0; f < cfg.folds; f++) {
      const held = rows.filter((_, i) => folds![i] === f).map((r) => r.path);
      const dec = path.join(dir, `fold${f}.json`);
      fs.writeFileSync(dec, JSON.stringify({ fixedLabels: {}, excluded: held }));
      tasks.push(() => train(`ce-fold${f}`, 'ce', peerEpochs, ['--decisions', dec], held.length, reuse, false));
    }
  }
  const finish = async (): Promise<SeedResult> => {
    if (cfg.methods.includes('ours') && !missing.has('ours')) {
      const run = path.join(dir, 'ours');
      const rj = readRunJson(run)!;
      const judged = cfg.rejudge ? await rejudge(run, c.noisy) : run;
      const rule = cfg.rejudge
        ? JSON.parse(fs.readFileSync(path.join(judged, 'rule.json'), 'utf8'))
        : (rj.statusRule ?? null);
      res.ours = {
        ...evaluate(c.truth, path.join(judged, SAMPLES_CSV), path.join(run, 'test-predictions.csv')),
        wall_s: walls.ours,
        rejudged: cfg.rejudge,
        epochs: rj.config?.epochs,
        backend: (rj as { backend?: { name?: string } }).backend?.name,
        statusRule: rule,
        suggestions: rule ? { trusted: rule.trusted, reason: rule.reason, advice: rule.advice } : null,
      };
    }
    if (folds && !missing.has('peer')) {
      const p = await peerAnalysis(c, dir, classes, folds, rows);
      const rj = readRunJson(path.join(dir, 'ce'))!;
      const trainWall = ['ce', ...Array.from({ length: cfg.folds }, (_, f) => `ce-fold${f}`)].reduce(
        (s, k) => s + (walls[k] ?? NaN),
        0,
      );
      res.peer = {
        ...p,
        wall_s: trainWall + p.cl.seconds,
        epochs: rj.config?.epochs,
        backend: (rj as { backend?: { name?: string } }).backend?.name,
      };
    }
    return res;
  };
  return { tasks, finish };
}

// ---------------------------------------------------------------- report
type Getter = (s: Score) => number | undefined;
const METRICS: [string, Getter, 'pct' | 'num'][] = [
  ['relabel precision', (s) => s.noise?.precision, 'pct'],
  ['relabel recall', (s) => s.noise?.recall, 'pct'],
  ['relabel F1 (noise F1)', (s) => s.noise?.f1, 'pct'],
  ['relabels corrected right', (s) => s.noise?.correction_acc, 'pct'],
  ['OOD candidates precision', (s) => s.ood?.precision, 'pct'],
  ['OOD candidates recall', (s) => s.ood?.recall, 'pct'],
  ['OOD candidates F1', (s) => s.ood?.f1, 'pct'],
  ['OOD score AUROC', (s) => s.ood?.auroc, 'pct'],
  ['in-dist flagged OOD', (s) => s.in_dist_flagged_ood, 'pct'],
  ['cleaned-label accuracy', (s) => s.cleaned_label_acc, 'pct'],
  ['test top-1', (s) => s.test_top1, 'pct'],
  ['training wall time (s)', (s) => s.wall_s, 'num'],
];

function table(results: Record<string, Record<number, SeedResult>>): string {
  const lines: string[] = [];
  for (const [caseId, bySeed] of Object.entries(results)) {
    const seeds = Object.keys(bySeed).map(Number);
    const pick = (m: 'ours' | 'peer') => seeds.map((s) => bySeed[s][m]).filter((x): x is Score => !!x);
    const ours = pick('ours'),
      peer = pick('peer');
    const ep = (xs: Score[]) => [...new Set(xs.map((x) => x.epochs))].join('/') || '-';
    const on = (m: 'ours' | 'peer') => seeds.filter((s) => bySeed[s][m]).join(', ') || 'none';
    lines.push(
      `**${caseId}** — ours: seeds ${on('ours')}, ${ep(ours)} epochs; peer: seeds ${on('peer')}, ${ep(peer)} epochs per CE training`,
      '',
    );
    lines.push(
      `| metric (%) | ours (MoPro, ${cfg.preset} preset) | peer (confident learning + kNN OOD) |`,
      '|---|---|---|',
    );
    for (const [name, get, kind] of METRICS)
      lines.push(`| ${name} | ${cell(ours.map(get), kind)} | ${cell(peer.map(get), kind)} |`);
    const verdicts = ours.filter((o) => o.suggestions).map((o) => o.suggestions.trusted);
    if (verdicts.length)
      lines.push('', `ours: model judged trusted in ${verdicts.filter(Boolean).length} of ${verdicts.length} runs`);
    lines.push('');
  }
  return lines.join('\n');
}

async function main() {
  const t0 = Date.now();
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
  log(`machine: ${machine}`);
  log(`config: ${JSON.stringify(cfg)}`);
  const cases = cfg.cases.map(caseDef);
  for (const c of cases) ensureData(c);
  const jobs: { c: Case; seed: number; finish: () => Promise<SeedResult> }[] = [];
  const tasks: (() => Promise<void>)[] = [];
  // cases in the given order, seeds interleaved within a case, so a stopped run still has whole case x seed units
  for (const c of cases)
    for (const seed of cfg.seeds) {
      const r = await runCaseSeed(c, seed);
      tasks.push(...r.tasks);
      jobs.push({ c, seed, finish: r.finish });
    }
  await pool(tasks, cfg.jobs);
  const results: Record<string, Record<number, SeedResult>> = {};
  for (const j of jobs) {
    const r = await j.finish();
    if (r.ours || r.peer) (results[j.c.id] ??= {})[j.seed] = r;
  }
  const md = [
    `bench:suggestions ${cfg.tag} — ${machine}; backend ${[
      ...new Set(
        Object.values(results)
          .flatMap((b) => Object.values(b).flatMap((r) => [r.ours?.backend, r.peer?.backend]))
          .filter(Boolean),
      ),
    ].join('/')}; ` +
      `${cfg.folds}-fold CE for the peer, kNN k = ${cfg.k}; total ${((Date.now() - t0) / 60000).toFixed(0)} min`,
    '',
    table(results),
  ].join('\n');
  console.log(md);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `suggestions-${cfg.tag}.md`), md + '\n');
  fs.writeFileSync(
    path.join(outDir, `suggestions-${cfg.tag}.json`),
    JSON.stringify({ cfg, machine, results, at: new Date().toISOString() }, null, 2),
  );
  log(`wrote ${path.relative(root, path.join(outDir, `suggestions-${cfg.tag}.md`))} and .json`);
}

main().catch((e) => {
  console.error(`bench:suggestions: ${e.message}`);
  process.exit(1);
});
