#!/usr/bin/env node
// `mopro` — the headless commands of design.md §3 over the same modules the app uses.
// Exit codes: 0 success, 2 bad usage, 1 failure; the reason is one line on stderr.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { EngineEvent, TrainOptions } from './engine/types';
import { BackendChoice, TrainMethod } from '../src-shared/contract';
import { LossName } from '../src-shared/losses';
import { cliFlags, TrainArgs } from '../src-shared/train-options';
import { addSchemaOptions, parseSchemaOptions } from './cli-options';
import { PREDICTIONS_HEADER, RUN_JSON } from '../src-shared/run-format';
import type { RunEvaluation } from '../src-shared/run-json';
import { writeAtomicSync } from './util/atomic';

class UsageError extends Error {}

function int(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    if (n > max) throw new InvalidArgumentError(`${name} must be at most ${max}`);
    return n;
  };
}

function fail(message: string, code = 1): never {
  process.stderr.write(`mopro: ${message.split('\n')[0]}\n`);
  process.exit(code);
}

/** Progress on a terminal: one redrawn line with ETA; elsewhere (CI, pipes): plain lines, one per epoch. */
export function progressPrinter(tty = Boolean(process.stderr.isTTY)) {
  let last = 0;
  const fmtEta = (s: number | null) =>
    s == null || !Number.isFinite(s)
      ? '--'
      : s >= 3600
        ? `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`
        : s >= 60
          ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
          : `${Math.round(s)}s`;
  return (e: EngineEvent) => {
    switch (e.type) {
      case 'log':
        process.stderr.write(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}\n`);
        break;
      case 'backend':
        process.stderr.write(
          `backend: ${e.name} (${e.reason})${e.skipped.length ? `; skipped ${e.skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}` : ''}\n`,
        );
        break;
      case 'phase':
        if (tty) process.stderr.write(`\r\x1b[2K${e.phase} ${e.done}/${e.total}`);
        if (!tty && (e.done === e.total || e.done === 0)) process.stderr.write(`${e.phase} ${e.done}/${e.total}\n`);
        if (tty && e.done === e.total) process.stderr.write('\n');
        break;
      case 'step': {
        if (!tty) break;
        const now = Date.now();
        if (now - last < 200 && e.step !== e.steps) break;
        last = now;
        const frac = (e.epoch + e.step / Math.max(1, e.steps)) / e.epochs;
        const width = 28,
          fill = Math.round(frac * width);
        process.stderr.write(
          `\r\x1b[2K[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] epoch ${e.epoch + 1}/${e.epochs} step ${e.step}/${e.steps} loss ${e.loss.toFixed(3)} ${e.imagesPerSec.toFixed(0)} img/s ETA ${fmtEta(e.etaSeconds)}`,
        );
        break;
      }
      case 'epoch': {
        const s = e.stats;
        if (tty) process.stderr.write('\r\x1b[2K');
        process.stderr.write(
          `epoch ${s.epoch + 1}: loss ${s.loss.toFixed(4)} (${LossName.options.map((n) => `${n} ${s.losses[n].toFixed(3)}`).join(' ')}) relabeled ${s.relabeled} ood ${s.ood} ${s.imagesPerSec.toFixed(1)} img/s ${s.seconds.toFixed(1)} s\n`,
        );
        break;
      }
      case 'checkpoint':
        break;
    }
  };
}

async function trainCmd(dataset: string, raw: Record<string, unknown>) {
  let o: TrainArgs;
  try {
    o = parseSchemaOptions(TrainArgs, cliFlags, raw);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!o.out) throw new UsageError('train needs --out <run folder>');
  const out = path.resolve(o.out);
  // Refuse before anything is created: an output in the dataset, someone else's folder, or a run that
  // neither --resume nor --force covers (--force moves the old run aside, it never deletes it).
  // A missing folder, a file or a system folder ('/', a home folder itself) is named as such first.
  await (await import('./dataset/scan')).checkRootFolder(dataset);
  const { prepareRunOutput } = await import('./util/output-guard');
  const guarded = [
    { path: path.resolve(dataset), what: 'dataset' },
    ...(o.init ? [{ path: path.resolve(o.init), what: 'run given to --init' }] : []),
  ];
  const prep = prepareRunOutput(out, {
    folders: guarded,
    resume: Boolean(o.resume),
    force: Boolean(o.force),
  });
  if (prep.setAside) process.stderr.write(`--force: the old run is kept as ${prep.setAside}\n`);
  if (o.resume) await checkResumeDataset(out, path.resolve(dataset));
  const { startTraining } = await import('./engine/index');
  const { force: _force, decisions: _decisions, useDecisions: _useDecisions, ...engineArgs } = o;
  const opts: TrainOptions = {
    ...engineArgs,
    dataset: path.resolve(dataset),
    out,
    resume: Boolean(o.resume),
    init: o.init ? path.resolve(o.init) : undefined,
    // a file path is resolved here; a name (imagenet:resnet18) is the engine's to look up
    pretrained: o.pretrained
      ? /^imagenet:/i.test(o.pretrained)
        ? o.pretrained
        : path.resolve(o.pretrained)
      : undefined,
    freezeBackbone: Boolean(o.freezeBackbone),
  };
  Object.assign(opts, await decisionsFor(opts, o));
  // tuning aid (not part of the CLI contract): engine config fields as JSON, recorded in run.json adaptations
  const overrides = process.env.MOPRO_ENGINE_OVERRIDES
    ? (JSON.parse(process.env.MOPRO_ENGINE_OVERRIDES) as Record<string, unknown>)
    : undefined;
  const printer = progressPrinter();
  // Before the first training step (scan, decode) there is nothing to checkpoint: a signal ends at once.
  let training = false;
  const handle = startTraining(
    opts,
    (e) => {
      if (e.type === 'step') training = true;
      printer(e);
    },
    overrides,
  );
  let interrupts = 0;
  const onSig = (sig: NodeJS.Signals) => {
    interrupts++;
    if (!training) {
      process.stderr.write(`\nstopped before training started (${sig}): nothing to resume\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    if (interrupts === 1) {
      process.stderr.write('\nstopping after the next checkpoint (Ctrl-C again to abort at once)...\n');
      handle.stop();
    } else process.exit(130);
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  const r = await handle.done;
  process.off('SIGINT', onSig);
  process.off('SIGTERM', onSig);
  if (r.state === 'stopped') {
    process.stderr.write(
      `stopped after epoch ${r.epochsDone}; continue with: mopro train ${dataset} --out ${o.out} --resume\n`,
    );
  } else {
    process.stdout.write(
      `wrote ${path.join(r.out, 'samples.csv')}: ${r.counts.clean} clean, ${r.counts.relabeled} relabeled, ${r.counts.ood} ood\n`,
    );
  }
}

/** --resume on another dataset (or a changed one) is refused before the engine starts, naming both. */
async function checkResumeDataset(out: string, dataset: string): Promise<void> {
  const { recordedIdentity, datasetIdentity, datasetMismatch } = await import('./engine/train/dataset-identity');
  const was = recordedIdentity(out);
  if (!was) return; // nothing recorded: the engine starts from scratch and says so
  const { scanDataset } = await import('./dataset/scan');
  const scan = await scanDataset(dataset);
  const why = datasetMismatch(out, was, datasetIdentity(scan.root, scan.classes, scan.samples));
  if (why) throw new UsageError(why);
}

/**
 * Human decisions for a training run: --decisions <file.json> ({ fixedLabels: {path: label}, excluded: [path] }),
 * or --use-decisions (the app's review decisions for this dataset). Kept beside the run as decisions.json, so
 * --resume trains with the same decisions; a resume without either flag reads that file.
 */
async function decisionsFor(
  opts: TrainOptions,
  o: Record<string, unknown>,
): Promise<Pick<TrainOptions, 'fixedLabels' | 'excluded'>> {
  const { readDecisionsFile, readRunDecisions, writeRunDecisions } = await import('./project/run-decisions');
  let dec: Pick<TrainOptions, 'fixedLabels' | 'excluded'> | null = null;
  if (o.decisions && o.useDecisions) throw new UsageError('give --decisions <file> or --use-decisions, not both');
  if (o.decisions) {
    dec = readDecisionsFile(path.resolve(String(o.decisions)));
  } else if (o.useDecisions) {
    const { Project } = await import('./project/project');
    const { appDataDir } = await import('./paths');
    const p = await Project.open(opts.dataset, appDataDir(), undefined, { readOnly: true }); // reads only: never blocks the app
    try {
      dec = p.decisionsForTraining();
    } finally {
      p.close();
    }
  } else if (opts.resume) {
    return readRunDecisions(opts.out) ?? {};
  }
  if (!dec) return {};
  const out = writeRunDecisions(opts.out, dec);
  process.stderr.write(
    `decisions: ${Object.keys(out.fixedLabels).length} confirmed label(s) fixed, ${out.excluded.length} image(s) excluded as OOD\n`,
  );
  return out;
}

async function retrainCmd(run: string, o: Record<string, unknown>) {
  const src = path.resolve(run);
  const out = o.out ? path.resolve(String(o.out)) : `${src.replace(/[\\/]+$/, '')}-crt`;
  const { prepareRunOutput } = await import('./util/output-guard');
  const prep = prepareRunOutput(out, {
    folders: [{ path: src, what: 'source run' }, ...runDataset(src)],
    force: Boolean(o.force),
    canResume: false,
  });
  if (prep.setAside) process.stderr.write(`--force: the old run is kept as ${prep.setAside}\n`);
  const { retrainClassifier } = await import('./engine/eval/retrain-classifier');
  const r = await retrainClassifier(
    { run: src, out, epochs: o.epochs as number | undefined, backend: o.backend as TrainOptions['backend'] },
    progressPrinter(),
  );
  process.stdout.write(
    `wrote ${r.out}: classifier re-trained on ${r.trainRows} cleaned samples; ${r.counts.clean} clean, ${r.counts.relabeled} relabeled, ${r.counts.ood} ood\n`,
  );
}

async function probeCmd(run: string, folder: string, o: Record<string, unknown>) {
  const shots = String(o.shots)
    .split(',')
    .map((v) => Number(v));
  if (shots.some((k) => !Number.isInteger(k) || k < 1))
    throw new UsageError('--shots takes positive integers, e.g. --shots 1,2,4,8,16');
  if (o.out) {
    const { checkFileOutput } = await import('./util/output-guard');
    checkFileOutput(path.resolve(String(o.out)), {
      folders: [{ path: path.resolve(folder), what: 'image folder' }, ...runDataset(path.resolve(run))],
      what: 'probe report',
      ours: (t) => {
        try {
          const j = JSON.parse(t);
          return Array.isArray(j?.results) && typeof j?.featureDim === 'number';
        } catch {
          return false;
        }
      },
    });
  }
  const { runProbe } = await import('./engine/eval/probe');
  const r = await runProbe(
    {
      run: path.resolve(run),
      folder: path.resolve(folder),
      shots,
      draws: o.draws as number,
      seed: o.seed as number | undefined,
      backend: o.backend as TrainOptions['backend'],
    },
    progressPrinter(),
  );
  if (o.out) {
    writeAtomicSync(path.resolve(String(o.out)), JSON.stringify(r, null, 2));
  }
  process.stdout.write(
    `${r.classes.length} classes, ${r.images} images, ${r.featureDim}-d features, ${r.draws} draws\n`,
  );
  for (const x of r.results)
    process.stdout.write(
      `${x.shots}-shot: ${(100 * x.mean).toFixed(1)}% +- ${(100 * x.std).toFixed(1)} (test ${x.testImages} images)\n`,
    );
}

/** The run summary keeps every labelled-folder evaluation (top-1, ECE) so the app can show calibration. */
function recordEvaluation(run: string, e: RunEvaluation) {
  const f = path.join(run, RUN_JSON);
  try {
    const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { evaluations?: Record<string, unknown>[] };
    j.evaluations = [...(j.evaluations ?? []).filter((x) => !(x.folder === e.folder && x.crops === e.crops)), e];
    writeAtomicSync(f, JSON.stringify(j, null, 2));
  } catch (err) {
    process.stderr.write(`warning: could not record the evaluation in ${f}: ${(err as Error).message}\n`);
  }
}

/** The dataset a run was trained on (from its run.json), as a folder outputs must stay out of. */
function runDataset(run: string): { path: string; what: string }[] {
  try {
    const d = (JSON.parse(fs.readFileSync(path.join(run, RUN_JSON), 'utf8')) as { dataset?: unknown }).dataset;
    return typeof d === 'string' && d ? [{ path: d, what: "run's dataset" }] : [];
  } catch {
    return [];
  }
}

async function predictCmd(run: string, folder: string, o: Record<string, unknown>) {
  if (!o.out) throw new UsageError('predict needs --out <file.csv>');
  // Only a new file or a predictions CSV we wrote earlier is replaced; never anything in the images' folders.
  await (await import('./dataset/scan')).checkRootFolder(folder, 'image folder');
  const { checkFileOutput } = await import('./util/output-guard');
  const outFile = path.resolve(String(o.out));
  checkFileOutput(outFile, {
    folders: [{ path: path.resolve(folder), what: 'image folder' }, ...runDataset(path.resolve(run))],
    header: PREDICTIONS_HEADER.join(','),
    sideFiles: [
      {
        path: `${outFile}.summary.json`,
        what: 'predictions summary',
        ours: (t) => {
          try {
            const j = JSON.parse(t);
            return j?.confidence === 'max q' && typeof j?.predictions === 'string';
          } catch {
            return false;
          }
        },
      },
    ],
  });
  const { predict } = await import('./engine/index');
  const crops = Number(o.crops) as 1 | 10 | 144;
  const r = await predict(
    {
      run: path.resolve(run),
      folder: path.resolve(folder),
      out: path.resolve(String(o.out)),
      backend: o.backend as TrainOptions['backend'],
      crops,
    },
    progressPrinter(),
  );
  process.stdout.write(
    `wrote ${path.resolve(String(o.out))} (${r.count} images, ${crops} crop${crops > 1 ? 's' : ''} each)\n`,
  );
  if (r.labelled) {
    const c = r.labelled.calibration;
    recordEvaluation(path.resolve(run), {
      folder: path.resolve(folder),
      crops,
      images: r.labelled.labelled,
      accuracy: r.labelled.accuracy,
      ece: c.ece,
      mce: c.mce,
      summary: r.summary,
      at: new Date().toISOString(),
    });
    process.stdout.write(
      `labelled folder: ${r.labelled.labelled} images, top-1 ${(100 * r.labelled.accuracy).toFixed(2)}%, ECE (${c.bins.length} bins) ${(100 * c.ece).toFixed(2)}%, MCE ${(100 * c.mce).toFixed(2)}%; reliability diagram in ${r.summary}\n`,
    );
  }
}

async function jobCmd(dataset: string, o: Record<string, unknown>) {
  if (!o.out) throw new UsageError('job needs --out <job folder>');
  const { writeJob, JOB_RUN_DIR } = await import('./project/job');
  const r = await writeJob({
    dataset: path.resolve(dataset),
    out: path.resolve(String(o.out)),
    method: o.method as TrainMethod,
    epochs: o.epochs as number | undefined,
    batchSize: o.batchSize as number | undefined,
    imageSize: o.imageSize as number | undefined,
    arch: o.arch as string | undefined,
    seed: o.seed as number | undefined,
    cpu: Boolean(o.cpu),
  });
  const c = r.config;
  process.stdout.write(
    `wrote job ${r.out}: ${r.files} images, ${r.classes.length} classes; ${c.method} ${c.arch} ${c.imageSize}px, ${c.epochs} epochs, global batch ${c.batchSize}\n` +
      `run it: NPROC=<processes per node> ${path.join(r.out, 'train.sh')}   (torchrun; launch_local.sh starts the ranks without it)\n` +
      `then open ${path.join(r.out, JOB_RUN_DIR)} in the app, or: mopro predict ${path.join(r.out, JOB_RUN_DIR)} <folder> --out predictions.csv\n`,
  );
}

async function importOfficialCmd(cleaned: string, o: Record<string, unknown>) {
  if (!o.dataset) throw new UsageError('import-official needs --dataset <folder>');
  if (!o.out) throw new UsageError('import-official needs --out <run folder>');
  const { importOfficial, UNMATCHED_TXT } = await import('./project/import-official');
  const r = await importOfficial({
    cleaned: path.resolve(cleaned),
    dataset: path.resolve(String(o.dataset)),
    out: path.resolve(String(o.out)),
    classes: o.classes ? path.resolve(String(o.classes)) : undefined,
  });
  const missing = r.unmatched.length + r.ambiguous.length;
  if (missing)
    process.stderr.write(
      `warning: ${r.unmatched.length} official path(s) match no file and ${r.ambiguous.length} match several; listed in ${path.join(r.out, UNMATCHED_TXT)}\n`,
    );
  process.stdout.write(
    `wrote ${path.join(r.out, 'samples.csv')}: ${r.counts.clean} clean, ${r.counts.relabeled} relabeled, ${r.counts.ood} ood (${r.matched} of ${r.entries} official entries matched${r.duplicates ? `, ${r.duplicates} duplicates ignored` : ''})\n`,
  );
}

export function buildProgram(): Command {
  const program = new Command('mopro')
    .description('MoPro Studio: clean a noisy class-per-folder image dataset with momentum prototypes')
    .exitOverride();
  const backend = () =>
    new Option('--backend <name>', 'compute backend').choices(BackendChoice.options).default('auto');
  const train = program
    .command('train')
    .description('scan <dataset>, train, and write the run folder (samples.csv, run.json, model/)')
    .argument('<dataset>', 'folder with one sub-folder per class');
  // every option of train is a field of TrainArgs: flag, help, choices and default are written there
  addSchemaOptions(train, TrainArgs, cliFlags).action(trainCmd);
  program
    .command('retrain-classifier')
    .description(
      "cRT: freeze the run's encoder, re-train the classifier on its cleaned labels with class-rebalanced resampling; writes a new run folder",
    )
    .argument('<run>', 'finished run folder')
    .option('--out <run>', 'new run folder (default <run>-crt)')
    .option('--epochs <n>', 'epochs (default 15)', int('--epochs'))
    .option('--force', 'replace a run in --out; the old one is kept as <run>.old-<time>')
    .addOption(backend())
    .action(retrainCmd);
  program
    .command('probe')
    .description(
      "low-shot linear probe: k labelled images per class on the run's frozen features, mean accuracy over draws",
    )
    .argument('<run>', 'finished run folder')
    .argument('<folder>', 'labelled folder (one sub-folder per class)')
    .option('--shots <k,...>', 'images per class, e.g. 1,2,4,8,16', '1,2,4,8,16')
    .option('--draws <n>', 'random draws per k', int('--draws'), 5)
    .option('--seed <n>', 'random seed', int('--seed', 0))
    .option('--out <file.json>', 'write the results as JSON')
    .addOption(backend())
    .action(probeCmd);
  program
    .command('predict')
    .description("classify every image under <folder> (recursively) with the run's model")
    .argument('<run>', 'run folder written by train')
    .argument('<folder>', 'images to classify')
    .option('--out <file.csv>', 'predictions CSV to write')
    .addOption(
      new Option(
        '--crops <n>',
        'test-time crops averaged per image: 1 (whole image), 10 (corners + centre, mirrored), 144 (4 scales x 3 squares x 6 x 2)',
      )
        .choices(['1', '10', '144'])
        .default('1'),
    )
    .addOption(backend())
    .action(predictCmd);
  program
    .command('job')
    .description(
      'write a job folder that trains MoPro on PyTorch DDP (train.sh runs torchrun, launch_local.sh starts the ranks itself) and writes <job>/run for the app',
    )
    .argument('<dataset>', 'folder with one sub-folder per class')
    .option('--out <job>', 'job folder to write (new or empty)')
    .option('--epochs <n>', 'training epochs', int('--epochs'))
    .option(
      '--batch-size <n>',
      'global mini-batch, split over all processes (must divide by their number)',
      int('--batch-size', 2),
    )
    .option('--image-size <px>', 'training image size', int('--image-size', 8))
    .addOption(new Option('--method <m>', 'training method').choices(TrainMethod.options).default('mopro'))
    .option('--arch <name>', 'ResNet backbone (default depends on the image size)')
    .option('--seed <n>', 'random seed', int('--seed', 0))
    .option('--cpu', 'size the defaults for CPU processes instead of GPUs')
    .action(jobCmd);
  program
    .command('import-official')
    .description(
      'convert the official MoPro noise_cleaning.py output ({"images": [...], "labels": [...]}) into a run folder',
    )
    .argument('<cleaned.json>', 'the JSON noise_cleaning.py wrote')
    .option('--dataset <folder>', 'the local dataset those images are in (one sub-folder per class)')
    .option('--out <run>', 'run folder to write (new or empty)')
    .option(
      '--classes <file>',
      "class names by label index: JSON array or one per line (default: the dataset's sorted class folders)",
    )
    .action(importOfficialCmd);
  program
    .command('serve')
    .description('browser mode: the UI and the API on 127.0.0.1 with a random token')
    .option('--port <n>', 'port (default: a free one)', int('--port', 0, 65535))
    .option('--dataset <dir>', 'dataset to open first')
    .action(async (o: { port?: number; dataset?: string }) => {
      const { serveCommand } = await import('./server/commands');
      await serveCommand({ port: o.port, dataset: o.dataset ? path.resolve(o.dataset) : undefined });
    });
  program
    .command('export-weights')
    .description(
      "write the run's trained encoder in torchvision layout (.safetensors) + a JSON sidecar (classes, mean/std, image size)",
    )
    .argument('<run>', 'finished run folder')
    .option('--out <file.safetensors>', 'weights file to write (the sidecar goes beside it as <name>.json)')
    .action(async (run: string, o: { out?: string }) => {
      if (!o.out) throw new UsageError('export-weights needs --out <file.safetensors>');
      const { exportRunWeights } = await import('./engine/nets/export-weights');
      const r = exportRunWeights(run, o.out);
      process.stdout.write(
        `wrote ${r.file} (${r.tensors} tensors, ${r.meta.arch}${r.meta.torchvision ? `: torchvision.models.${r.meta.arch}(num_classes=${r.meta.classes.length})` : ''}) and ${r.sidecar}\n`,
      );
    });
  program
    .command('export')
    .description('write the cleaned dataset (never touches the original folder)')
    .argument('<project-or-run>', 'dataset folder (with review decisions) or run folder')
    .option('--to <dir>', 'destination folder (must be empty or absent)')
    .addOption(
      new Option('--mode <m>', 'how files are written').choices(['copy', 'hardlink', 'manifest']).default('copy'),
    )
    .option('--ood', 'also write OOD images to <dir>/_ood/')
    .action(async (source: string, o: { to?: string; mode: 'copy' | 'hardlink' | 'manifest'; ood?: boolean }) => {
      if (!o.to) throw new UsageError('export needs --to <dir>');
      const { exportCommand } = await import('./server/commands');
      await exportCommand({
        source: path.resolve(source),
        to: path.resolve(o.to),
        mode: o.mode,
        includeOod: Boolean(o.ood),
      });
    });
  return program;
}

export async function main(argv = process.argv) {
  const program = buildProgram();
  // The benchmark reads peak memory from here: training runs in a worker thread of this process.
  if (process.env.MOPRO_REPORT_RUSAGE) {
    process.on('exit', () =>
      process.stderr.write(`rusage ${JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`),
    );
  }
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
        process.exit(0);
      process.exit(2); // commander already printed the reason
    }
    if (e instanceof UsageError || (e as Error)?.name === 'OutputRefused') fail((e as Error).message, 2);
    const err = e as NodeJS.ErrnoException;
    fail(err?.message ?? String(e), 1);
  }
}

const invoked = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
if (invoked) void main();
