// `npm run bench:rss` — peak memory of a training run against the number of images.
//
//   npm run bench:rss -- [--n 1000,10000,30000] [--stage full|train|final] [--pixels stream|memory|auto]
//                        [--steps 4] [--batch 32] [--arch resnet-micro] [--size 96] [--dir <folder>] [--json out.json]
//
// Generates (once) a colour folder of 96 px RGB JPEGs under --dir (bench/rss-folder.ts; each N is a folder of
// hard links to the first N images, so each has its own pixel cache), then per N runs a child process of its
// own on wasm and reports that process's peak RSS (VmHWM), also as it stood after decoding and before the
// final pass. Stages:
//   full   the real training run (runTraining: scan, decode into the pixel cache, --steps training steps, the
//          final pass over all N images, samples.csv, arrays, model);
//   train  the same run stopped after --steps steps (checkpoint written, no final pass): decode + training
//          at sizes where the CNN final pass would take hours on a shared CPU;
//   final  the final pass after inference (judge + samples.csv + arrays) on synthetic outputs of N images.
// --pixels: stream = rows read from the on-disk cache per batch, memory = one N x rowBytes array (the
// former layout), auto = the engine's default (in memory up to decode.ts IN_MEMORY_MAX_BYTES). The cache
// folder is --dir/cache: a second run on the same N finds the rows decoded (the "decode s" column says so).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface ChildSpec {
  stage: 'full' | 'train' | 'final';
  n: number;
  dataset: string;
  out: string;
  cacheDir: string;
  pixels: 'stream' | 'memory' | 'auto';
  steps: number;
  batch: number;
  arch: string;
  size: number;
}
interface Result {
  n: number;
  pixels: string;
  streamed: boolean;
  peakMB: number;
  afterDecodeMB: number;
  afterTrainMB: number;
  decodeSeconds: number;
  trainSeconds: number;
  finalSeconds: number;
  totalSeconds: number;
  steps: number;
  backend: string;
  rowsGB: number;
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/** kB field of /proc/self/status (Linux), or null elsewhere. */
function procStatusKB(field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
const peakMB = () => Math.round((procStatusKB('VmHWM') ?? process.resourceUsage().maxRSS) / 1024);

/**
 * --stage final: the final pass after inference (judge: softmaxes, prototype similarities, the blocked kNN in
 * the features, the status rule; then samples.csv and the arrays) on synthetic per-sample outputs of N images
 * (the arrays inferAll fills: logits N x 10, embeddings N x 128, features N x featureDim(arch), clustered by
 * class with 10% of rows scattered), without the CNN forward that costs hours at 100k images here.
 */
async function finalOnly(spec: ChildSpec): Promise<Result> {
  const t0 = Date.now();
  const { selectBackend } = await import('../src-main/engine/backends/backend');
  const backend = await selectBackend('wasm');
  const { EMBED_DIM, featureDim } = await import('../src-main/engine/nets/model');
  const { judge, writeRunArrays } = await import('../src-main/engine/eval/final-pass');
  const { Rng } = await import('../src-shared/rng');
  const n = spec.n,
    K = 10,
    d = EMBED_DIM,
    F = featureDim(spec.arch),
    r = new Rng(1);
  const centres = Float32Array.from({ length: K * F }, () => r.normal());
  const labels = Int32Array.from({ length: n }, (_, i) => i % K);
  const logits = new Float32Array(n * K),
    emb = new Float32Array(n * d),
    feat = new Float32Array(n * F);
  for (let i = 0; i < n; i++) {
    const y = r.next() < 0.1 ? r.int(K) : labels[i]!;
    for (let k = 0; k < K; k++) logits[i * K + k] = (k === y ? 3 : 0) + r.normal();
    let z = 0;
    for (let t = 0; t < d; t++) z += (emb[i * d + t] = r.normal() + (t % K === y ? 2 : 0)) ** 2;
    for (let t = 0; t < d; t++) emb[i * d + t]! /= Math.sqrt(z);
    for (let t = 0; t < F; t++) feat[i * F + t] = centres[y * F + t]! + 0.5 * r.normal();
  }
  const protos = new Float32Array(K * d);
  for (let k = 0; k < K; k++) protos[k * d + k] = 1;
  const afterInputs = peakMB();
  const tj = Date.now();
  const res = judge(
    { logits, emb, feat },
    labels,
    K,
    { method: 'mopro', protos, tau: 0.1, alpha: 0.5, threshold: 0.6, oodScore: 'knn-label', statusRule: 'best' },
    new Uint8Array(n),
    new Uint8Array(n),
  );
  fs.rmSync(spec.out, { recursive: true, force: true });
  writeRunArrays(
    spec.out,
    Array.from({ length: n }, (_, i) => ({ rel: `class-${labels[i]}/img-${i}.jpg`, label: `class-${labels[i]}` })),
    Array.from({ length: K }, (_, k) => `class-${k}`),
    res,
    emb,
    logits,
  );
  const t1 = Date.now();
  return {
    n,
    pixels: 'none (synthetic outputs)',
    streamed: false,
    peakMB: peakMB(),
    afterDecodeMB: NaN,
    afterTrainMB: afterInputs,
    decodeSeconds: 0,
    trainSeconds: 0,
    finalSeconds: (t1 - tj) / 1000,
    totalSeconds: (t1 - t0) / 1000,
    steps: 0,
    backend: backend.name,
    rowsGB: 0,
  };
}

async function child(spec: ChildSpec): Promise<Result> {
  if (spec.stage === 'final') return finalOnly(spec);
  const { runTraining } = await import('../src-main/engine/train/train-run');
  fs.rmSync(spec.out, { recursive: true, force: true });
  const t0 = Date.now();
  const mark: Record<string, number> = {};
  let phase = '',
    streamed = false,
    steps = 0,
    backend = '';
  const at = (p: string) => {
    if (p === phase) return;
    mark[`${phase}->${p}`] = peakMB();
    mark[`t:${p}`] = Date.now();
    phase = p;
  };
  const res = await runTraining(
    {
      dataset: spec.dataset,
      out: spec.out,
      method: 'mopro',
      epochs: 1,
      batchSize: spec.batch,
      imageSize: spec.size,
      arch: spec.arch,
      seed: 1,
      backend: 'wasm',
      cacheDir: spec.cacheDir,
    },
    (e) => {
      if (e.type === 'backend') backend = e.name;
      if (e.type === 'phase') {
        at(e.phase);
        if (e.phase === 'decode' && e.done === e.total) at('decoded');
      }
      if (e.type === 'step') {
        at('train');
        steps++;
      }
      if (e.type === 'checkpoint') at('trained');
      if (e.type === 'log' && /pixels read from the on-disk cache/.test(e.message)) streamed = true;
    },
    {
      // --stage train: the run stops (checkpoint, no final pass) once the steps are done
      shouldStop: () => spec.stage === 'train' && steps >= spec.steps,
      maxSteps: spec.steps,
      pixelsInMemoryMax: spec.pixels === 'stream' ? 0 : spec.pixels === 'memory' ? Infinity : undefined,
    },
  );
  if (res.state !== (spec.stage === 'train' ? 'stopped' : 'done')) throw new Error(`run ended ${res.state}`);
  const t1 = Date.now();
  const tDecode = mark['t:decode'] ?? t0,
    tTrain = mark['t:decoded'] ?? t1,
    tFinal = mark['t:trained'] ?? t1;
  return {
    n: spec.n,
    pixels: spec.pixels,
    streamed,
    peakMB: peakMB(),
    afterDecodeMB: mark['decode->decoded'] ?? NaN,
    afterTrainMB: mark['train->trained'] ?? NaN,
    decodeSeconds: (tTrain - tDecode) / 1000,
    trainSeconds: (tFinal - tTrain) / 1000,
    finalSeconds: (t1 - tFinal) / 1000,
    totalSeconds: (t1 - t0) / 1000,
    steps,
    backend,
    rowsGB: (spec.n * spec.size * spec.size * 3) / 1e9,
  };
}

async function main(): Promise<void> {
  const ci = process.argv.indexOf('--child');
  if (ci >= 0) {
    const r = await child(JSON.parse(process.argv[ci + 1]!) as ChildSpec);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    process.exit(0); // the wasm backend keeps no handles worth waiting for
  }
  const { generateFolder, linkSubset } = await import('./rss-folder');
  const ns = arg('n', '1000,10000,30000').split(',').map(Number);
  const dir = path.resolve(arg('dir', path.join(os.tmpdir(), 'mopro-rss-bench')));
  const pixels = arg('pixels', 'stream') as ChildSpec['pixels'];
  const stage = arg('stage', 'full') as ChildSpec['stage'];
  const steps = Number(arg('steps', '4')),
    batch = Number(arg('batch', '32')),
    size = Number(arg('size', '96')),
    arch = arg('arch', 'resnet-micro');
  const master = path.join(dir, 'master');
  const maxN = Math.max(...ns);
  process.stderr.write(`generating up to ${maxN} images in ${master} (once)\n`);
  if (stage !== 'final') await generateFolder(master, maxN);
  const results: Result[] = [];
  for (const n of ns) {
    const dataset = path.join(dir, `n${n}`);
    if (stage !== 'final') linkSubset(master, dataset, n);
    const spec: ChildSpec = {
      stage,
      n,
      dataset,
      out: path.join(dir, 'runs', `n${n}-${stage}-${pixels}`),
      cacheDir: path.join(dir, 'cache'),
      pixels,
      steps,
      batch,
      arch,
      size,
    };
    process.stderr.write(`N = ${n}, stage ${stage}, pixels ${pixels}, ${steps} steps...\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', JSON.stringify(spec)], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`N = ${n}: the child failed (exit ${r.status}, signal ${r.signal})`);
    const res = JSON.parse(line.slice(7)) as Result;
    results.push(res);
    process.stderr.write(`${JSON.stringify(res)}\n`);
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `peak RSS per run, stage ${stage} (${arch}, ${size} px RGB, batch ${batch}, ${steps} steps, backend wasm; ${cpu}, ${os.cpus().length} cores)`,
    '| N | stage | pixels | rows GB | peak RSS MB | after decode MB | after training MB | decode s | train s | final pass s |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.n} | ${stage} | ${stage === 'final' ? '-' : r.streamed ? 'streamed' : 'in memory'} | ${r.rowsGB.toFixed(2)} | ${r.peakMB} | ${r.afterDecodeMB} | ${r.afterTrainMB} | ${r.decodeSeconds.toFixed(0)} | ${r.trainSeconds.toFixed(0)} | ${r.finalSeconds.toFixed(0)} |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const json = arg('json', '');
  if (json) fs.writeFileSync(json, JSON.stringify({ cpu, arch, size, batch, steps, results }, null, 2));
}

await main();
