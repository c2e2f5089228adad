// `npm run bench:extensions` — the techniques beyond the MoPro loop, measured on the public case, each side by side with the
// plain run it modifies (design.md §5 case: 10k noisy Fashion-MNIST, 40% noise, 10% OOD, 2k clean test images).
//
//   npm run bench:extensions -- [--only crops,crt,decisions,balanced,probe,pretrain] [--epochs 15] [--short 4]
//                               [--backend auto] [--reviewed 500] [--jobs 2]
//
// Reuses the MoPro and CE runs of `npm run bench` (bench-data/runs/*-<case>) when present, else trains them.
// Independent trainings run two at a time: wasm is single-threaded in Node, so each uses one core.
//   crops      predict --crops 1 | 10 | 144 on the test folder: top-1 and ECE (MoPro and CE models)
//   crt        retrain-classifier on the MoPro run, then predict: test top-1 and cleaned-label scores
//   decisions  a simulated reviewer fixes the <reviewed> lowest-confidence suggestions (relabelled/OOD rows)
//              with the ground truth; MoPro retrains with those decisions; test top-1 and noise F1 vs run 1
//   balanced   a long-tailed copy of the noisy folder (class k keeps 0.75^k of its images), --sampling
//              uniform vs balanced, <short>x2 epochs each; balanced test folder, worst-class accuracy
//   probe      low-shot linear probe (k = 1,2,4,8,16, 5 draws) on MNIST digits: MoPro vs CE features
//   pretrain   --pretrain permutation (2 epochs) then MoPro <short> epochs vs MoPro <short> epochs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { parseCsv } from '../src-main/util/csv';
import { evaluate as score } from './score';

const root = path.resolve(import.meta.dirname, '..');
const shared = path.resolve(root, '..', 'shared');
const args = Object.fromEntries(
  process.argv
    .slice(2)
    .reduce<[string, string][]>(
      (a, v, i, all) =>
        v.startsWith('--') ? [...a, [v.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']] : a,
      [],
    ),
);
const only = new Set(String(args.only ?? 'crops,crt,decisions,balanced,probe,pretrain').split(','));
const backend = String(args.backend ?? 'auto');
const epochs = Number(args.epochs ?? 15);
const short = Number(args.short ?? 4);
const reviewed = Number(args.reviewed ?? 500);
const jobs = Number(args.jobs ?? 2); // trainings at once (wasm: one core each)
const tag = 'n10000-noise0.4-ood0.1-test2000-seed1';
const dataDir = path.join(root, 'bench-data');
const noisy = path.join(dataDir, `fm-noisy-${tag}`),
  test = path.join(dataDir, `fm-test-${tag}`),
  truthFile = `${noisy}.truth.jsonl`;
const work = path.join(dataDir, 'extensions');
const log = (m: string) => process.stderr.write(`[ext] ${m}\n`);

function cli(argv: string[], label: string): Promise<{ code: number; wall: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [path.join(root, 'bin', 'mopro.mjs'), ...argv], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '',
      err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
      for (const l of d.toString().split('\n'))
        if (/^epoch |^pretrain epoch|^cRT epoch 15|^wrote/.test(l)) log(`${label}: ${l}`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) log(`${label} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`);
      resolve({ code: code ?? 1, wall: (Date.now() - t0) / 1000, stdout: out });
    });
  });
}
async function must(argv: string[], label: string) {
  const r = await cli(argv, label);
  if (r.code !== 0) throw new Error(`${label} failed`);
  return r;
}

const evaluate = (samples: string, predictions: string, truth = truthFile) => score(truth, samples, predictions);
function summaryOf(predCsv: string) {
  return JSON.parse(fs.readFileSync(`${predCsv}.summary.json`, 'utf8'));
}
/** Per-class test accuracy from a predictions CSV of a labelled folder (true label = first folder). */
function perClass(predCsv: string) {
  const rows = parseCsv(fs.readFileSync(predCsv, 'utf8'), ['path', 'predicted_label']);
  const acc = new Map<string, [number, number]>();
  for (const r of rows) {
    const c = r.path.split('/')[0];
    const a = acc.get(c) ?? [0, 0];
    a[0] += r.predicted_label === c ? 1 : 0;
    a[1]++;
    acc.set(c, a);
  }
  return Object.fromEntries([...acc].sort().map(([c, [ok, n]]) => [c, ok / n]));
}
async function pool<T>(jobs: (() => Promise<T>)[], n = 2): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }),
  );
  return out;
}
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-');

async function baseRun(method: 'mopro' | 'ce'): Promise<string> {
  const run = path.join(dataDir, 'runs', `${method}-${tag}`);
  if (
    fs.existsSync(path.join(run, 'model', 'model.json')) &&
    JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')).state === 'done'
  )
    return run;
  log(`no ${method} run from npm run bench: training it (${epochs} epochs)`);
  await must(
    ['train', noisy, '--out', run, '--method', method, '--backend', backend, '--seed', '1', '--epochs', String(epochs)],
    `train ${method}`,
  );
  return run;
}

async function writeIdxPngs(images: string, labels: string, out: string, perClassN: number, names: string[]) {
  const im = zlib.gunzipSync(fs.readFileSync(images)),
    lb = zlib.gunzipSync(fs.readFileSync(labels));
  const n = im.readUInt32BE(4),
    rows = im.readUInt32BE(8),
    cols = im.readUInt32BE(12);
  const taken = new Array(names.length).fill(0);
  for (let i = 0; i < n && taken.some((t) => t < perClassN); i++) {
    const y = lb[8 + i];
    if (taken[y] >= perClassN) continue;
    const dir = path.join(out, names[y]);
    fs.mkdirSync(dir, { recursive: true });
    await sharp(im.subarray(16 + i * rows * cols, 16 + (i + 1) * rows * cols), {
      raw: { width: cols, height: rows, channels: 1 },
    })
      .png()
      .toFile(path.join(dir, `${i}.png`));
    taken[y]++;
  }
}

async function main() {
  const t0 = Date.now();
  log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}, node ${process.version}; backend ${backend}`);
  if (!fs.existsSync(truthFile))
    throw new Error(`${truthFile} not found: run npm run bench first (it builds the public case)`);
  fs.mkdirSync(work, { recursive: true });
  type Truth = { path: string; given: string; true: string | null; kind: string };
  const truth = new Map(
    fs
      .readFileSync(truthFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Truth)
      .map((t) => [t.path, t] as const),
  );
  const [mopro, ce] = await pool([() => baseRun('mopro'), () => baseRun('ce')], jobs);
  const lines: string[] = [];
  const results: Record<string, unknown> = {};
  const base = evaluate(path.join(mopro, 'samples.csv'), path.join(mopro, 'test-predictions.csv'));
  const tasks: (() => Promise<void>)[] = [];

  if (only.has('decisions'))
    tasks.push(async () => {
      const rows = parseCsv(fs.readFileSync(path.join(mopro, 'samples.csv'), 'utf8'), ['path', 'status', 'confidence']);
      const sugg = rows
        .filter((r) => r.status !== 'clean')
        .sort((a, b) => Number(a.confidence) - Number(b.confidence))
        .slice(0, reviewed);
      const fixedLabels: Record<string, string> = {},
        excluded: string[] = [];
      let suggestionRight = 0;
      for (const r of sugg) {
        const t = truth.get(r.path)!;
        if (t.true === null) excluded.push(r.path);
        else fixedLabels[r.path] = t.true;
        if ((r.status === 'ood' && t.true === null) || (r.status === 'relabeled' && r.corrected_label === t.true))
          suggestionRight++;
      }
      const decFile = path.join(work, 'decisions-reviewer.json');
      fs.writeFileSync(decFile, JSON.stringify({ fixedLabels, excluded }));
      const run = path.join(work, 'mopro-decisions');
      fs.rmSync(run, { recursive: true, force: true });
      const tr = await must(
        [
          'train',
          noisy,
          '--out',
          run,
          '--decisions',
          decFile,
          '--backend',
          backend,
          '--seed',
          '1',
          '--epochs',
          String(epochs),
        ],
        'decisions',
      );
      await must(
        ['predict', run, test, '--out', path.join(run, 'test-predictions.csv'), '--backend', backend],
        'decisions predict',
      );
      const ev = evaluate(path.join(run, 'samples.csv'), path.join(run, 'test-predictions.csv'));
      results.decisions = {
        reviewed: sugg.length,
        fixed: Object.keys(fixedLabels).length,
        excluded: excluded.length,
        suggestionRight,
        first: base,
        retrained: ev,
        trainWall: tr.wall,
      };
      lines.push(
        `\n## retrain with decisions (reviewer fixed the ${sugg.length} lowest-confidence suggestions with the truth: ${Object.keys(fixedLabels).length} labels, ${excluded.length} OOD; ${suggestionRight} of the suggestions were right)`,
        `metric                 first run    with decisions`,
        ...(
          [
            ['test top-1', 'test_top1'],
            ['cleaned label acc', 'cleaned_label_acc'],
            ['in-dist flagged OOD', 'in_dist_flagged_ood'],
          ] as const
        ).map(([n, k]) => `${n.padEnd(22)} ${pct(base[k]).padStart(9)}    ${pct(ev[k]).padStart(9)}`),
        `${'noise F1'.padEnd(22)} ${pct(base.noise.f1).padStart(9)}    ${pct(ev.noise.f1).padStart(9)}`,
        `${'OOD AUROC'.padEnd(22)} ${pct(base.ood.auroc).padStart(9)}    ${pct(ev.ood.auroc).padStart(9)}`,
        `train wall ${tr.wall.toFixed(0)} s (${epochs} epochs)`,
      );
    });

  if (only.has('balanced'))
    tasks.push(async () => {
      // long-tailed copy: class k (in a fixed shuffled order) keeps a fraction 0.75^k of its images (hard links)
      const lt = path.join(work, 'fm-longtail');
      const ltTruth = `${lt}.truth.jsonl`;
      if (!fs.existsSync(ltTruth)) {
        const classes = fs
          .readdirSync(noisy)
          .filter((c) => fs.statSync(path.join(noisy, c)).isDirectory())
          .sort();
        const order = [3, 7, 0, 9, 5, 2, 8, 1, 6, 4].map((i) => classes[i]);
        const keep: string[] = [];
        for (const [k, c] of order.entries()) {
          const files = fs.readdirSync(path.join(noisy, c)).sort();
          const m = Math.max(20, Math.round(files.length * 0.75 ** k));
          fs.mkdirSync(path.join(lt, c), { recursive: true });
          for (const f of files.slice(0, m)) {
            fs.linkSync(path.join(noisy, c, f), path.join(lt, c, f));
            keep.push(`${c}/${f}`);
          }
        }
        fs.writeFileSync(ltTruth, keep.map((p) => JSON.stringify(truth.get(p))).join('\n') + '\n');
      }
      const res: Record<string, unknown> = {};
      await pool(
        (['uniform', 'balanced'] as const).map((mode) => async () => {
          const run = path.join(work, `longtail-${mode}`);
          fs.rmSync(run, { recursive: true, force: true });
          const tr = await must(
            [
              'train',
              lt,
              '--out',
              run,
              '--sampling',
              mode,
              '--backend',
              backend,
              '--seed',
              '1',
              '--epochs',
              String(short * 2),
            ],
            `longtail ${mode}`,
          );
          const pred = path.join(run, 'test-predictions.csv');
          await must(['predict', run, test, '--out', pred, '--backend', backend], `longtail ${mode} predict`);
          const ev = evaluate(path.join(run, 'samples.csv'), pred, ltTruth);
          const rj = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
          const pc = perClass(pred);
          res[mode] = {
            ...ev,
            perClass: pc,
            worstClass: Math.min(...Object.values(pc)),
            sampling: rj.sampling,
            trainWall: tr.wall,
          };
        }),
        jobs,
      );
      results.balanced = res;
      const u = res.uniform as Record<string, any>,
        b = res.balanced as Record<string, any>;
      lines.push(
        `\n## class-balanced sampling (long-tailed copy: ${u.sampling.before.join('/')} images per class, ${short * 2} epochs, MoPro)`,
        `epoch-1 draws per class, balanced: ${b.sampling.drawnFirstEpoch.join('/')}`,
        `metric                 uniform      balanced`,
        `${'test top-1'.padEnd(22)} ${pct(u.test_top1).padStart(9)}    ${pct(b.test_top1).padStart(9)}`,
        `${'worst-class test acc'.padEnd(22)} ${pct(u.worstClass).padStart(9)}    ${pct(b.worstClass).padStart(9)}`,
        `${'noise F1'.padEnd(22)} ${pct(u.noise.f1).padStart(9)}    ${pct(b.noise.f1).padStart(9)}`,
        `${'cleaned label acc'.padEnd(22)} ${pct(u.cleaned_label_acc).padStart(9)}    ${pct(b.cleaned_label_acc).padStart(9)}`,
        `per-class test acc, class (training images): uniform / balanced`,
        ...u.sampling.classes.map(
          (c: string, k: number) =>
            `  ${`${c} (${u.sampling.before[k]})`.padEnd(20)} ${pct(u.perClass[c]).padStart(7)} / ${pct(b.perClass[c]).padStart(7)}`,
        ),
      );
    });

  if (only.has('pretrain'))
    for (const pre of [false, true])
      tasks.push(async () => {
        const run = path.join(work, `short-${pre ? 'pretrain' : 'plain'}`);
        fs.rmSync(run, { recursive: true, force: true });
        const tr = await must(
          [
            'train',
            noisy,
            '--out',
            run,
            '--backend',
            backend,
            '--seed',
            '1',
            '--epochs',
            String(short),
            ...(pre ? ['--pretrain', 'permutation', '--pretrain-epochs', '2'] : []),
          ],
          `short ${pre ? 'pretrain' : 'plain'}`,
        );
        await must(
          ['predict', run, test, '--out', path.join(run, 'test-predictions.csv'), '--backend', backend],
          'short predict',
        );
        const ev = evaluate(path.join(run, 'samples.csv'), path.join(run, 'test-predictions.csv'));
        const rj = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
        results.pretrain ??= {} as Record<string, unknown>;
        (results.pretrain as Record<string, unknown>)[pre ? 'pretrain' : 'plain'] = {
          ...ev,
          trainWall: tr.wall,
          pretrain: rj.pretrain ?? null,
        };
      });

  if (only.has('crops'))
    tasks.push(async () => {
      const out: Record<string, unknown> = {};
      for (const [name, run] of [
        ['mopro', mopro],
        ['ce', ce],
      ] as const)
        for (const c of [1, 10, 144]) {
          const pred = path.join(work, `crops-${name}-${c}.csv`);
          const r = await must(
            ['predict', run, test, '--out', pred, '--crops', String(c), '--backend', backend],
            `crops ${name} ${c}`,
          );
          const s = summaryOf(pred);
          out[`${name}-${c}`] = { accuracy: s.accuracy, ece: s.ece ?? s.calibration?.ece, wall: r.wall };
        }
      results.crops = out;
      const g = (k: string) => out[k] as { accuracy: number; ece: number; wall: number };
      lines.push(
        `\n## multi-crop prediction on the ${test.split('/').pop()} test folder (2000 images)`,
        `crops   MoPro top-1  MoPro ECE   CE top-1   CE ECE   MoPro wall`,
        ...[1, 10, 144].map(
          (c) =>
            `${String(c).padEnd(6)} ${pct(g(`mopro-${c}`).accuracy).padStart(11)} ${pct(g(`mopro-${c}`).ece).padStart(10)} ${pct(g(`ce-${c}`).accuracy).padStart(10)} ${pct(g(`ce-${c}`).ece).padStart(8)} ${g(`mopro-${c}`).wall.toFixed(0).padStart(9)} s`,
        ),
      );
    });

  if (only.has('crt'))
    tasks.push(async () => {
      const run = path.join(work, 'mopro-crt');
      fs.rmSync(run, { recursive: true, force: true });
      const tr = await must(['retrain-classifier', mopro, '--out', run, '--backend', backend], 'crt');
      await must(
        ['predict', run, test, '--out', path.join(run, 'test-predictions.csv'), '--backend', backend],
        'crt predict',
      );
      const ev = evaluate(path.join(run, 'samples.csv'), path.join(run, 'test-predictions.csv'));
      const s0 = summaryOf(path.join(run, 'test-predictions.csv'));
      results.crt = { original: base, crt: ev, wall: tr.wall, ece: s0.ece ?? s0.calibration?.ece };
      lines.push(
        `\n## classifier re-training (cRT) on the MoPro run's cleaned labels (${tr.wall.toFixed(0)} s)`,
        `metric                 MoPro        MoPro + cRT`,
        `${'test top-1'.padEnd(22)} ${pct(base.test_top1).padStart(9)}    ${pct(ev.test_top1).padStart(9)}`,
        `${'cleaned label acc'.padEnd(22)} ${pct(base.cleaned_label_acc).padStart(9)}    ${pct(ev.cleaned_label_acc).padStart(9)}`,
        `${'noise F1'.padEnd(22)} ${pct(base.noise.f1).padStart(9)}    ${pct(ev.noise.f1).padStart(9)}`,
        `${'in-dist flagged OOD'.padEnd(22)} ${pct(base.in_dist_flagged_ood).padStart(9)}    ${pct(ev.in_dist_flagged_ood).padStart(9)}`,
      );
    });

  if (only.has('probe'))
    tasks.push(async () => {
      const digits = path.join(work, 'mnist-digits-probe');
      if (!fs.existsSync(digits))
        await writeIdxPngs(
          path.join(shared, 'data', 'mnist-digits', 'digits-images-idx3-ubyte.gz'),
          path.join(shared, 'data', 'mnist-digits', 'digits-labels-idx1-ubyte.gz'),
          digits,
          200,
          ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
        );
      const out: Record<string, unknown> = {};
      for (const [name, run] of [
        ['mopro', mopro],
        ['ce', ce],
      ] as const) {
        const f = path.join(work, `probe-${name}.json`);
        await must(['probe', run, digits, '--shots', '1,2,4,8,16', '--out', f, '--backend', backend], `probe ${name}`);
        out[name] = JSON.parse(fs.readFileSync(f, 'utf8'));
      }
      results.probe = out;
      const r = (n: string) => (out[n] as { results: { shots: number; mean: number; std: number }[] }).results;
      lines.push(
        `\n## low-shot linear probe on MNIST digits (2000 images, frozen features of the Fashion-MNIST runs, 5 draws)`,
        `k      MoPro            CE`,
        ...r('mopro').map(
          (x, i) =>
            `${String(x.shots).padEnd(6)} ${`${pct(x.mean)} +- ${(100 * x.std).toFixed(1)}`.padStart(14)}   ${`${pct(r('ce')[i].mean)} +- ${(100 * r('ce')[i].std).toFixed(1)}`.padStart(14)}`,
        ),
      );
    });

  await pool(tasks, jobs);
  if (results.pretrain) {
    const p = results.pretrain as Record<string, any>;
    lines.push(
      `\n## self-supervised warm start (${short}-epoch MoPro; pretrain: 2 epochs of 2x2 tile permutations)`,
      `metric                 plain        + pretrain`,
      `${'test top-1'.padEnd(22)} ${pct(p.plain.test_top1).padStart(9)}    ${pct(p.pretrain.test_top1).padStart(9)}`,
      `${'noise F1'.padEnd(22)} ${pct(p.plain.noise.f1).padStart(9)}    ${pct(p.pretrain.noise.f1).padStart(9)}`,
      `${'cleaned label acc'.padEnd(22)} ${pct(p.plain.cleaned_label_acc).padStart(9)}    ${pct(p.pretrain.cleaned_label_acc).padStart(9)}`,
      `${'OOD AUROC'.padEnd(22)} ${pct(p.plain.ood.auroc).padStart(9)}    ${pct(p.pretrain.ood.auroc).padStart(9)}`,
      `train wall (s)          ${p.plain.trainWall.toFixed(0).padStart(8)}    ${p.pretrain.trainWall.toFixed(0).padStart(9)}`,
      `pretrain tile accuracy by epoch: ${(p.pretrain.pretrain?.history ?? []).map((h: { accuracy: number }) => pct(h.accuracy)).join(', ')}`,
    );
  }
  lines.push(
    `\nbase runs: ${path.relative(root, mopro)}, ${path.relative(root, ce)}; total ${((Date.now() - t0) / 60000).toFixed(1)} min on ${os.cpus().length} x ${os.cpus()[0]?.model}, backend ${backend}`,
  );
  console.log(lines.join('\n'));
  fs.writeFileSync(
    path.join(dataDir, 'extensions-bench.json'),
    JSON.stringify({ results, at: new Date().toISOString() }, null, 2),
  );
}

main().catch((e) => {
  console.error(`bench:extensions: ${e.message}`);
  process.exit(1);
});
