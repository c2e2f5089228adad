// `npm run bench` — the public case of design.md §5, MoPro and plain cross-entropy side by side.
//
//   npm run bench -- [--n 10000] [--test-n 2000] [--epochs E] [--methods mopro,ce] [--backend auto]
//                    [--noise 0.4] [--ood 0.1] [--seed 1] [--no-torch] [--quick]
//
// Builds the noisy folder with ../shared/bench/make-noisy-folder.mjs (kept out of git under
// bench-data/), trains each method with the same network and epochs through the CLI, predicts on
// the clean test folder, scores with ../shared/bench/evaluate.mjs, and prints one table with
// training images/s, wall time and peak RSS. It also times the same network in PyTorch
// (Debian's python3-torch) when that is installed, so the CPU throughput goal is checked in the
// same run on the same machine.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ARCHS } from '../src-main/engine/nets/model';
import { evaluate } from './score';
import { parseArgs } from './bench-runs';

const root = path.resolve(import.meta.dirname, '..');
const shared = path.resolve(root, '..', 'shared');

const args = parseArgs(process.argv.slice(2));
const quick = Boolean(args.quick);
const cfg = {
  n: Number(args.n ?? (quick ? 2000 : 10000)),
  testN: Number(args['test-n'] ?? (quick ? 1000 : 2000)),
  noise: Number(args.noise ?? 0.4),
  ood: Number(args.ood ?? 0.1),
  seed: Number(args.seed ?? 1),
  epochs: args.epochs ? Number(args.epochs) : undefined,
  methods: String(args.methods ?? 'mopro,ce')
    .split(',')
    .filter(Boolean),
  backend: String(args.backend ?? 'auto'),
  torch: !args['no-torch'],
};

const dataDir = path.join(root, 'bench-data');
const tag = `n${cfg.n}-noise${cfg.noise}-ood${cfg.ood}-test${cfg.testN}-seed${cfg.seed}`;
const noisy = path.join(dataDir, `fm-noisy-${tag}`);
const test = path.join(dataDir, `fm-test-${tag}`);
const truth = `${noisy}.truth.jsonl`;

function log(msg: string) {
  process.stderr.write(`[bench] ${msg}\n`);
}

function ensureData() {
  if (fs.existsSync(truth) && fs.existsSync(test)) {
    log(`reusing ${path.relative(root, noisy)}`);
    return;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const r = spawnSync(
    process.execPath,
    [
      path.join(shared, 'bench', 'make-noisy-folder.mjs'),
      '--out',
      noisy,
      '--n',
      String(cfg.n),
      '--noise',
      String(cfg.noise),
      '--ood',
      String(cfg.ood),
      '--test-out',
      test,
      '--test-n',
      String(cfg.testN),
      '--seed',
      String(cfg.seed),
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error('make-noisy-folder.mjs failed');
}

interface Timed {
  wallSeconds: number;
  maxRssMB: number | null;
  code: number;
}

/** Runs the CLI as a child process, streaming its output, and reads its peak RSS report. */
function cli(argv: string[]): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [path.join(root, 'bin', 'mopro.mjs'), ...argv], {
      cwd: root,
      env: { ...process.env, MOPRO_REPORT_RUSAGE: '1' },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let rss: number | null = null;
    let buf = '';
    child.stderr.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = /^rusage (.*)$/.exec(line);
        if (m) rss = JSON.parse(m[1]).maxRssMB;
        else process.stderr.write(`  ${line}\n`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ wallSeconds: (Date.now() - t0) / 1000, maxRssMB: rss, code: code ?? 1 }));
  });
}

interface RunJsonLike {
  backend?: { name?: string } | string;
  arch?: string;
  config?: Record<string, unknown>;
  epochs?: { imagesPerSec?: number; seconds?: number }[];
  wall?: Record<string, number>;
}

function trainThroughput(runDir: string) {
  const rj = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as RunJsonLike;
  const eps = rj.epochs ?? [];
  // Mean over epochs after the first (the first includes kernel warm-up / pixel cache fill).
  const steady = eps.length > 1 ? eps.slice(1) : eps;
  const ips = steady.length ? steady.reduce((s, e) => s + (e.imagesPerSec ?? 0), 0) / steady.length : NaN;
  const backend = typeof rj.backend === 'string' ? rj.backend : (rj.backend?.name ?? '?');
  return { ips, backend, runJson: rj };
}

/** Same network in PyTorch (Debian python3-torch), fwd + bwd + SGD step, 2 threads. */
function torchThroughput(runJson: RunJsonLike): { ips: number | null; note: string } {
  const py = ['/usr/bin/python3', 'python3'].find(
    (p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0,
  );
  if (!py) return { ips: null, note: 'PyTorch not installed (apt-get install python3-torch): not measured' };
  const spec = { ...(runJson.config ?? {}) } as Record<string, unknown>;
  spec.spec = ARCHS[String(spec.arch)];
  const r = spawnSync(py, [path.join(root, 'bench', 'torch_throughput.py'), JSON.stringify(spec)], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) return { ips: null, note: `PyTorch run failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { ips: out.imagesPerSec, note: out.note };
}

async function main() {
  const t0 = Date.now();
  log(
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  );
  log(`case: ${JSON.stringify(cfg)}`);
  ensureData();
  const results: Record<string, Record<string, unknown>> = {};
  for (const method of cfg.methods) {
    const run = path.join(dataDir, 'runs', `${method}-${tag}`);
    fs.rmSync(run, { recursive: true, force: true });
    log(`training ${method} -> ${path.relative(root, run)}`);
    const trainArgs = [
      'train',
      noisy,
      '--out',
      run,
      '--method',
      method,
      '--backend',
      cfg.backend,
      '--seed',
      String(cfg.seed),
    ];
    if (cfg.epochs) trainArgs.push('--epochs', String(cfg.epochs));
    const tr = await cli(trainArgs);
    if (tr.code !== 0) throw new Error(`training ${method} failed (exit ${tr.code})`);
    const preds = path.join(run, 'test-predictions.csv');
    const pr = await cli(['predict', run, test, '--out', preds, '--backend', cfg.backend]);
    if (pr.code !== 0) throw new Error(`predict ${method} failed (exit ${pr.code})`);
    const score = evaluate(truth, path.join(run, 'samples.csv'), preds);
    const thr = trainThroughput(run);
    results[method] = {
      ...score,
      train_images_per_sec: thr.ips,
      backend: thr.backend,
      train_wall_s: tr.wallSeconds,
      predict_wall_s: pr.wallSeconds,
      peak_rss_mb: tr.maxRssMB,
      epochs: thr.runJson.epochs?.length,
      runJson: thr.runJson,
    };
  }
  let torch: { ips: number | null; note: string } = { ips: null, note: 'skipped (--no-torch)' };
  const first = results[cfg.methods[0]];
  if (cfg.torch && first) torch = torchThroughput(first.runJson as RunJsonLike);

  const pct = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-');
  const num = (x: unknown, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
  type Row = [string, (r: Record<string, any>) => string];
  const rows: Row[] = [
    ['backend', (r) => String(r.backend)],
    ['epochs', (r) => String(r.epochs)],
    ['test top-1', (r) => pct(r.test_top1)],
    ['given label acc', (r) => pct(r.given_label_acc)],
    ['cleaned label acc', (r) => pct(r.cleaned_label_acc)],
    ['in-dist flagged OOD', (r) => pct(r.in_dist_flagged_ood)],
    ['noise precision', (r) => pct(r.noise?.precision)],
    ['noise recall', (r) => pct(r.noise?.recall)],
    ['noise F1', (r) => pct(r.noise?.f1)],
    ['noise corrected right', (r) => pct(r.noise?.correction_acc)],
    ['OOD AUROC', (r) => pct(r.ood?.auroc)],
    ['OOD F1 (status rule)', (r) => pct(r.ood?.f1)],
    ['train img/s (steady)', (r) => num(r.train_images_per_sec)],
    ['train wall (s)', (r) => num(r.train_wall_s, 0)],
    ['predict wall (s)', (r) => num(r.predict_wall_s, 0)],
    ['peak RSS (MB)', (r) => num(r.peak_rss_mb, 0)],
  ];
  const w = 24;
  const lines = [`${'metric'.padEnd(w)}${cfg.methods.map((m) => m.padStart(14)).join('')}`];
  for (const [name, f] of rows)
    lines.push(`${name.padEnd(w)}${cfg.methods.map((m) => f(results[m]).padStart(14)).join('')}`);
  lines.push('');
  lines.push(
    `PyTorch, same network, fwd+bwd+SGD: ${torch.ips != null ? `${torch.ips.toFixed(1)} img/s` : '-'} (${torch.note})`,
  );
  if (torch.ips && first)
    lines.push(
      `TF.js / PyTorch training throughput: ${((first.train_images_per_sec as number) / torch.ips).toFixed(2)}x (note: MoPro also runs the key encoder each step; CE row is the like-for-like)`,
    );
  if (results.ce && results.ce.train_images_per_sec && torch.ips)
    lines.push(
      `CE (like-for-like) / PyTorch: ${((results.ce.train_images_per_sec as number) / torch.ips).toFixed(2)}x`,
    );
  if (results.mopro && results.ce)
    lines.push(
      `MoPro - CE test top-1: ${(((results.mopro.test_top1 as number) - (results.ce.test_top1 as number)) * 100).toFixed(1)} points`,
    );
  lines.push(
    `total bench wall time: ${((Date.now() - t0) / 60000).toFixed(1)} min on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`,
  );
  console.log(lines.join('\n'));
  const summary = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { ...v, runJson: undefined }]));
  fs.writeFileSync(
    path.join(dataDir, `bench-${tag}.json`),
    JSON.stringify({ cfg, results: summary, torch, at: new Date().toISOString() }, null, 2),
  );
}

main().catch((e) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
