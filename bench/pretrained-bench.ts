// `npm run bench:pretrained` — what starting from pretrained weights does to the suggestions, simulated without
// ImageNet (no download is possible here): a backbone pretrained without labels on images disjoint from the case.
//
//   npm run bench:pretrained -- [--cases 2k,10k] [--seeds 1,2,3] [--variants scratch,frozen,finetuned]
//        [--backend auto] [--reuse] [--tag name]
//   npm run bench:pretrained -- --feature-speed [--archs resnet18,resnet50] [--size 224] [--batch 16] [--batches 4]
//
// Per case: Fashion-MNIST train images (make-noisy-folder --noise 0 --ood 0, a seed other than the case's) minus
// every file byte-identical to one of the case or its test folder, shuffled into 10 meaningless folders
// (disjoint-folder.ts); one pretraining on it, `--pretrain permutation --pretrain-epochs 5` then one CE epoch at
// lr ~0 (MOPRO_ENGINE_OVERRIDES lrWarmupEpochs 1e6: the warm-up never leaves lr ~0), so no label reaches the
// weights. Then per training seed, with the Quick preset's epochs: scratch (`train`), frozen (`--init <pretrained>
// --freeze-backbone`), fine-tuned (`--init <pretrained>`); `predict` on the case's clean test folder; scored by
// ../shared/bench/evaluate.mjs. All runs share one cache folder (bench-data/pretrained/cache: decoded images);
// its frozen-feature cache is emptied before each frozen run, so every frozen run pays for its features.
// One CLI process at a time, at nice 5. Mean ± sd over the training seeds; runs and tables under
// bench-data/pretrained/ (tables rewritten after each case x seed).
//
// --feature-speed: the frozen-backbone feature pass alone (eval-mode forward through extractFeatures, the
// function --freeze-backbone uses) of untrained ImageNet-shape nets on random RGB pixels, on wasm: one warm-up
// batch, then --batches timed batches of --batch images.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { selectBackend } from '../src-main/engine/backends/backend';
import { extractFeatures } from '../src-main/engine/eval/features';
import { createEncoder, disposeEncoder } from '../src-main/engine/nets/model';
import { scanDataset } from '../src-main/dataset/scan';
import { SAMPLES_CSV } from '../src-shared/run-format';
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
} from './bench-runs';
import { buildDisjointFolder } from './disjoint-folder';
import { evaluate } from './score';

const outDir = path.join(dataDir, 'pretrained');
const cacheRoot = path.join(outDir, 'cache');

const args = parseArgs(process.argv.slice(2));
const VARIANTS = ['scratch', 'frozen', 'finetuned'] as const;
type Variant = (typeof VARIANTS)[number];
const cfg = {
  cases: list(args.cases, '2k,10k'),
  seeds: list(args.seeds, '1,2,3').map(Number),
  variants: list(args.variants, VARIANTS.join(',')) as Variant[],
  backend: String(args.backend ?? 'auto'),
  reuse: Boolean(args.reuse),
  tag: args.tag ? String(args.tag) : new Date().toISOString().replace(/[:.]/g, '-'),
  featureSpeed: Boolean(args['feature-speed']),
  archs: list(args.archs, 'resnet18,resnet50'),
  size: Number(args.size ?? 224),
  batch: Number(args.batch ?? 16),
  batches: Number(args.batches ?? 4),
};
for (const c of cfg.cases) if (!['2k', '10k'].includes(c)) throw new Error(`--cases: unknown case "${c}" (2k, 10k)`);
for (const v of cfg.variants)
  if (!VARIANTS.includes(v)) throw new Error(`--variants: unknown "${v}" (${VARIANTS.join(', ')})`);
if (cfg.seeds.some((s) => !Number.isInteger(s))) throw new Error('--seeds: integers, e.g. 1,2,3');
for (const k of ['size', 'batch', 'batches'] as const)
  if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new Error(`--${k}: a positive integer`);

function log(msg: string) {
  process.stderr.write(`[pretrained ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

// ---------------------------------------------------------------- cases and the disjoint unlabelled folders
interface PretrainCase extends Case {
  /** make-noisy-folder --n and --seed of the unlabelled candidates (enough for ~10k images after removal) */
  unlabelledN: number;
  unlabelledSeed: number;
}
const CASES: Record<string, PretrainCase> = {
  '2k': { ...generatedCase('2k', 2000, 1000), unlabelledN: 10_000, unlabelledSeed: 77 },
  '10k': { ...generatedCase('10k', 10000, 2000), unlabelledN: 12_000, unlabelledSeed: 78 },
};

interface Disjoint {
  dir: string;
  candidates: number;
  removed: number;
  kept: number;
  sourceSeed: number;
}

function disjointFolder(c: PretrainCase): Disjoint {
  const dir = path.join(outDir, 'data', `unlabelled-${c.id}`),
    manifest = `${dir}.json`;
  const want = { n: c.unlabelledN, sourceSeed: c.unlabelledSeed, noisy: c.noisy, test: c.test };
  if (fs.existsSync(manifest)) {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    if (JSON.stringify(m.want) === JSON.stringify(want) && fs.existsSync(dir)) return { dir, ...m.counts };
  }
  const src = path.join(outDir, 'data', `fm-clean-n${c.unlabelledN}-seed${c.unlabelledSeed}`);
  log(`${c.id}: generating ${c.unlabelledN} clean Fashion-MNIST train images (seed ${c.unlabelledSeed})`);
  makeFolder([
    '--out',
    src,
    '--n',
    String(c.unlabelledN),
    '--noise',
    '0',
    '--ood',
    '0',
    '--seed',
    String(c.unlabelledSeed),
  ]);
  const counts = {
    ...buildDisjointFolder({ source: src, exclude: [c.noisy, c.test], out: dir, seed: c.unlabelledSeed }),
    sourceSeed: c.unlabelledSeed,
  };
  fs.rmSync(src, { recursive: true, force: true });
  fs.rmSync(`${src}.truth.jsonl`, { force: true });
  fs.writeFileSync(manifest, JSON.stringify({ want, counts }, null, 2));
  log(
    `${c.id}: unlabelled folder ${counts.kept} images (${counts.removed} of ${counts.candidates} byte-identical to the case or its test folder removed)`,
  );
  return { dir, ...counts };
}

const runDone = (run: string, predictions = true) =>
  readRunJson(run)?.state === 'done' && (!predictions || fs.existsSync(path.join(run, 'test-predictions.csv')));

interface Pretrained {
  run: string;
  wall_s: number;
  tileAccuracy?: number;
  reused: boolean;
}

async function pretrain(c: PretrainCase, d: Disjoint): Promise<Pretrained> {
  const run = path.join(outDir, 'runs', c.id, 'pretrained'),
    logFile = path.join(outDir, 'runs', c.id, 'pretrain-log.txt');
  const info = (reused: boolean): Pretrained => {
    const rj = readRunJson(run) as {
      wall?: { trainSeconds?: number };
      pretrain?: { history?: { accuracy: number }[] };
    } | null;
    return {
      run,
      wall_s: rj?.wall?.trainSeconds ?? NaN,
      tileAccuracy: rj?.pretrain?.history?.at(-1)?.accuracy,
      reused,
    };
  };
  if (cfg.reuse && runDone(run, false)) {
    log(`${c.id}: reusing the pretrained run`);
    return info(true);
  }
  fs.rmSync(run, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(run), { recursive: true });
  log(`${c.id}: pretraining on ${d.kept} unlabelled images`);
  const r = await cli(
    [
      'train',
      d.dir,
      '--out',
      run,
      '--backend',
      cfg.backend,
      '--method',
      'ce',
      '--epochs',
      '1',
      '--pretrain',
      'permutation',
      '--pretrain-epochs',
      '5',
      '--seed',
      '1',
    ],
    logFile,
    // the one CE epoch (the CLI needs one) stays at lr ~0: the warm-up never ends, so no folder name reaches the weights
    { MOPRO_ENGINE_OVERRIDES: JSON.stringify({ lrWarmupEpochs: 1_000_000 }), MOPRO_CACHE_DIR: cacheRoot },
  );
  if (r.code !== 0) throw new Error(`${c.id}: pretraining failed (exit ${r.code}); see ${logFile}`);
  log(`${c.id}: pretrained in ${r.wallSeconds.toFixed(0)} s`);
  return info(false);
}

// ---------------------------------------------------------------- one case x seed x variant
type Score = Record<string, any>;

async function variantRun(c: PretrainCase, seed: number, v: Variant, pre: Pretrained, epochs: number): Promise<Score> {
  const dir = path.join(outDir, 'runs', c.id, `seed${seed}`),
    run = path.join(dir, v),
    logFile = path.join(dir, 'log.txt');
  fs.mkdirSync(dir, { recursive: true });
  const cfgOk = () => {
    const rc = readRunJson(run)?.config;
    return rc?.epochs === epochs && rc.seed === seed;
  };
  let reused = false;
  if (cfg.reuse && !pre.reused) log(`${c.id} seed ${seed}: ${v} is retrained (the pretrained run is new)`);
  if (cfg.reuse && pre.reused && runDone(run) && cfgOk()) {
    log(`${c.id} seed ${seed}: reusing ${v}`);
    reused = true;
  } else {
    fs.rmSync(run, { recursive: true, force: true });
    const extra =
      v === 'frozen' ? ['--init', pre.run, '--freeze-backbone'] : v === 'finetuned' ? ['--init', pre.run] : [];
    // every frozen run computes its features: a cached copy from the previous seed would hide that cost
    if (v === 'frozen') fs.rmSync(path.join(cacheRoot, 'frozen-features'), { recursive: true, force: true });
    log(`${c.id} seed ${seed}: training ${v} (load ${loadavg()})`);
    const argv = ['train', c.noisy, '--out', run, '--backend', cfg.backend, '--epochs', String(epochs)];
    const tr = await cli([...argv, '--seed', String(seed), ...extra], logFile, { MOPRO_CACHE_DIR: cacheRoot });
    if (tr.code !== 0) throw new Error(`${c.id} seed ${seed}: training ${v} failed (exit ${tr.code}); see ${logFile}`);
    const pr = await cli(
      ['predict', run, c.test, '--out', path.join(run, 'test-predictions.csv'), '--backend', cfg.backend],
      logFile,
      { MOPRO_CACHE_DIR: cacheRoot },
    );
    if (pr.code !== 0) throw new Error(`${c.id} seed ${seed}: predict ${v} failed (exit ${pr.code}); see ${logFile}`);
    log(`${c.id} seed ${seed}: ${v} trained in ${tr.wallSeconds.toFixed(0)} s (load ${loadavg()})`);
  }
  const rj = readRunJson(run) as Record<string, any>;
  return {
    ...evaluate(c.truth, path.join(run, SAMPLES_CSV), path.join(run, 'test-predictions.csv')),
    // the engine's own training time (scan to written run folder)
    wall_s: rj.wall?.trainSeconds,
    feature_s: rj.frozenBackbone && !rj.frozenBackbone.cached ? rj.frozenBackbone.seconds : undefined,
    epochs: rj.config?.epochs,
    backend: rj.backend?.name,
    init: rj.init ? { copied: rj.init.copied, classifier: rj.init.classifier } : undefined,
    reused,
  };
}

// ---------------------------------------------------------------- report
type Getter = (s: Score) => number | undefined;
const COLUMNS: [string, Getter, 'pct' | 'num'][] = [
  ['noise F1', (s) => s.noise?.f1, 'pct'],
  ['corrected right', (s) => s.noise?.correction_acc, 'pct'],
  ['OOD F1', (s) => s.ood?.f1, 'pct'],
  ['ID flagged OOD', (s) => s.in_dist_flagged_ood, 'pct'],
  ['cleaned labels', (s) => s.cleaned_label_acc, 'pct'],
  ['test top-1', (s) => s.test_top1, 'pct'],
  ['training wall (s)', (s) => s.wall_s, 'num'],
  ['of which features (s)', (s) => s.feature_s, 'num'],
];
const LABEL: Record<Variant, string> = {
  scratch: 'scratch',
  frozen: 'pretrained, frozen backbone',
  finetuned: 'pretrained, fine-tuned',
};

interface CaseResult {
  disjoint: Disjoint;
  pretrained: Pretrained;
  epochs: number;
  bySeed: Record<number, Partial<Record<Variant, Score>>>;
}

function table(results: Record<string, CaseResult>): string {
  const lines = [
    `| case | start | seeds | ${COLUMNS.map((c) => c[0]).join(' | ')} |`,
    `|---|---|---|${COLUMNS.map(() => '---').join('|')}|`,
  ];
  for (const [id, r] of Object.entries(results)) {
    let first = true;
    for (const v of cfg.variants) {
      const seeds = Object.keys(r.bySeed)
        .map(Number)
        .filter((s) => r.bySeed[s][v]);
      if (!seeds.length) continue;
      const scores = seeds.map((s) => r.bySeed[s][v]!);
      const caseCell = first ? `${id}, ${r.epochs} epochs` : '';
      first = false;
      lines.push(
        `| ${caseCell} | ${LABEL[v]} | ${seeds.join(', ')} | ${COLUMNS.map(([, get, kind]) => cell(scores.map(get), kind)).join(' | ')} |`,
      );
    }
  }
  const notes = Object.entries(results).map(
    ([id, r]) =>
      `- ${id}: unlabelled folder ${r.disjoint.kept} images (Fashion-MNIST train, make-noisy-folder seed ${r.disjoint.sourceSeed}; ` +
      `${r.disjoint.removed} of ${r.disjoint.candidates} byte-identical to the case or its test folder removed); ` +
      `pretraining ${Number.isFinite(r.pretrained.wall_s) ? `${r.pretrained.wall_s.toFixed(0)} s` : '?'}` +
      (r.pretrained.tileAccuracy !== undefined
        ? `, tile accuracy ${(100 * r.pretrained.tileAccuracy).toFixed(1)}%`
        : ''),
  );
  return [...lines, '', ...notes].join('\n');
}

function write(results: Record<string, CaseResult>, machine: string, t0: number, final: boolean) {
  const backends = [
    ...new Set(
      Object.values(results).flatMap((r) =>
        Object.values(r.bySeed).flatMap((b) => Object.values(b).map((s) => s?.backend)),
      ),
    ),
  ].filter(Boolean);
  const md = [
    `bench:pretrained ${cfg.tag} — ${machine}; backend ${backends.join('/') || '-'}; one CLI process at a time (nice 5); ` +
      `${final ? 'total' : 'so far'} ${((Date.now() - t0) / 60000).toFixed(0)} min. Mean ± sd over the training seeds; %.`,
    '',
    table(results),
  ].join('\n');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `pretrained-${cfg.tag}.md`), md + '\n');
  fs.writeFileSync(
    path.join(outDir, `pretrained-${cfg.tag}.json`),
    JSON.stringify({ cfg, machine, results, final, at: new Date().toISOString() }, null, 2),
  );
  return md;
}

// ---------------------------------------------------------------- frozen-feature speed
async function featureSpeed(machine: string) {
  const be = await selectBackend((cfg.backend === 'auto' ? 'wasm' : cfg.backend) as 'wasm');
  const { size, batch, batches } = cfg;
  const per = size * size * 3;
  const pixels = new Uint8Array((batches + 1) * batch * per);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (Math.random() * 256) | 0;
  const norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const rows: string[] = [];
  const json: Record<string, unknown>[] = [];
  for (const arch of cfg.archs) {
    const enc = createEncoder(arch, 3, 1000, 0, false);
    try {
      const warm = Int32Array.from({ length: batch }, (_, i) => i);
      const timed = Int32Array.from({ length: batches * batch }, (_, i) => batch + i);
      const before = tf.memory().numTensors;
      let t = Date.now();
      extractFeatures(enc, pixels, warm, size, 3, norm, { chunk: batch });
      const warmS = (Date.now() - t) / 1000;
      const load0 = loadavg();
      const cpu0 = process.cpuUsage();
      t = Date.now();
      extractFeatures(enc, pixels, timed, size, 3, norm, { chunk: batch });
      const s = (Date.now() - t) / 1000,
        cpu = process.cpuUsage(cpu0);
      if (tf.memory().numTensors !== before) throw new Error(`${arch}: the feature pass leaked tensors`);
      const r = {
        arch,
        size,
        batch,
        images: timed.length,
        seconds: s,
        imagesPerSec: timed.length / s,
        cpuSecondsPerImage: (cpu.user + cpu.system) / 1e6 / timed.length,
        warmupSeconds: warmS,
        loadBefore: load0,
        loadAfter: loadavg(),
      };
      json.push(r);
      log(
        `${arch}: ${r.imagesPerSec.toFixed(2)} images/s (${timed.length} images in ${s.toFixed(1)} s; load ${load0} -> ${r.loadAfter})`,
      );
      rows.push(
        `| ${arch} | ${size} px, batch ${batch} | ${r.imagesPerSec.toFixed(2)} | ${r.cpuSecondsPerImage.toFixed(2)} | ${timed.length} | ${load0} -> ${r.loadAfter} |`,
      );
    } finally {
      disposeEncoder(enc);
    }
  }
  const md = [
    `bench:pretrained --feature-speed ${cfg.tag} — ${machine}; backend ${be.name} (one thread); eval-mode feature pass (extractFeatures), random pixels, ${batches} timed batches after 1 warm-up batch`,
    '',
    '| net | input | images/s | CPU s per image | images timed | load average (1, 5, 15 min) before -> after |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(md);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `feature-speed-${cfg.tag}.md`), md + '\n');
  fs.writeFileSync(
    path.join(outDir, `feature-speed-${cfg.tag}.json`),
    JSON.stringify({ cfg, machine, results: json, at: new Date().toISOString() }, null, 2),
  );
}

async function main() {
  const t0 = Date.now();
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
  log(`machine: ${machine}; load ${loadavg()}`);
  log(`config: ${JSON.stringify(cfg)}`);
  if (cfg.featureSpeed) return featureSpeed(machine);
  const results: Record<string, CaseResult> = {};
  for (const id of cfg.cases) {
    const c = CASES[id];
    if (!fs.existsSync(c.truth) || !fs.existsSync(c.test)) {
      log(`generating data for case ${c.id}`);
      makeFolder(c.make!);
    }
    const d = disjointFolder(c);
    const pre = await pretrain(c, d);
    const epochs = quickEpochs((await scanDataset(c.noisy)).samples.length);
    const r: CaseResult = (results[id] = { disjoint: d, pretrained: pre, epochs, bySeed: {} });
    for (const seed of cfg.seeds) {
      for (const v of cfg.variants) (r.bySeed[seed] ??= {})[v] = await variantRun(c, seed, v, pre, epochs);
      write(results, machine, t0, false);
    }
  }
  console.log(write(results, machine, t0, true));
  log(`wrote ${path.relative(root, path.join(outDir, `pretrained-${cfg.tag}.md`))} and .json`);
}

main().catch((e) => {
  console.error(`bench:pretrained: ${e.message}`);
  process.exit(1);
});
