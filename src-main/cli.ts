#!/usr/bin/env node
// `mopro` — the headless commands of design.md §3 over the same modules the app uses.
// Exit codes: 0 success, 2 bad usage, 1 failure; the reason is one line on stderr.
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { EngineEvent, TrainOptions } from './engine/types';

class UsageError extends Error {}

function int(name: string, min = 1) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
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
  const fmtEta = (s: number | null) => (s == null || !Number.isFinite(s) ? '--' : s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`);
  return (e: EngineEvent) => {
    switch (e.type) {
      case 'log': process.stderr.write(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}\n`); break;
      case 'backend':
        process.stderr.write(`backend: ${e.name} (${e.reason})${e.skipped.length ? `; skipped ${e.skipped.map((s) => `${s.name}: ${s.why}`).join('; ')}` : ''}\n`);
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
        const width = 28, fill = Math.round(frac * width);
        process.stderr.write(`\r\x1b[2K[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] epoch ${e.epoch + 1}/${e.epochs} step ${e.step}/${e.steps} loss ${e.loss.toFixed(3)} ${e.imagesPerSec.toFixed(0)} img/s ETA ${fmtEta(e.etaSeconds)}`);
        break;
      }
      case 'epoch': {
        const s = e.stats;
        if (tty) process.stderr.write('\r\x1b[2K');
        process.stderr.write(`epoch ${s.epoch + 1}: loss ${s.loss.toFixed(4)} (ce ${s.lossCe.toFixed(3)} ins ${s.lossIns.toFixed(3)} pro ${s.lossPro.toFixed(3)}) relabeled ${s.relabeled} ood ${s.ood} ${s.imagesPerSec.toFixed(1)} img/s ${s.seconds.toFixed(1)} s\n`);
        break;
      }
      case 'checkpoint': break;
    }
  };
}

async function trainCmd(dataset: string, o: Record<string, unknown>) {
  if (!o.out) throw new UsageError('train needs --out <run folder>');
  const { startTraining } = await import('./engine/index');
  const opts: TrainOptions = {
    dataset: path.resolve(dataset),
    out: path.resolve(String(o.out)),
    method: o.method as TrainOptions['method'],
    epochs: o.epochs as number | undefined,
    batchSize: o.batchSize as number | undefined,
    imageSize: o.imageSize as number | undefined,
    backend: o.backend as TrainOptions['backend'],
    seed: o.seed as number | undefined,
    arch: o.arch as string | undefined,
    resume: Boolean(o.resume),
  };
  const handle = startTraining(opts, progressPrinter());
  let interrupts = 0;
  const onSig = () => {
    interrupts++;
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
    process.stderr.write(`stopped after epoch ${r.epochsDone}; continue with: mopro train ${dataset} --out ${o.out} --resume\n`);
  } else {
    process.stdout.write(`wrote ${path.join(r.out, 'samples.csv')}: ${r.counts.clean} clean, ${r.counts.relabeled} relabeled, ${r.counts.ood} ood\n`);
  }
}

async function predictCmd(run: string, folder: string, o: Record<string, unknown>) {
  if (!o.out) throw new UsageError('predict needs --out <file.csv>');
  const { predict } = await import('./engine/index');
  const r = await predict({ run: path.resolve(run), folder: path.resolve(folder), out: path.resolve(String(o.out)), backend: o.backend as TrainOptions['backend'] });
  const n = (r as { count?: number } | undefined)?.count;
  process.stdout.write(`wrote ${path.resolve(String(o.out))}${n != null ? ` (${n} images)` : ''}\n`);
}

export function buildProgram(): Command {
  const program = new Command('mopro')
    .description('MoPro Studio: clean a noisy class-per-folder image dataset with momentum prototypes')
    .exitOverride();
  const backend = new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto');
  program.command('train')
    .description('scan <dataset>, train, and write the run folder (samples.csv, run.json, model/)')
    .argument('<dataset>', 'folder with one sub-folder per class')
    .option('--out <run>', 'run folder to write')
    .option('--epochs <n>', 'training epochs', int('--epochs'))
    .option('--batch-size <n>', 'mini-batch size', int('--batch-size', 2))
    .option('--image-size <px>', 'training image size', int('--image-size', 8))
    .addOption(new Option('--method <m>', 'training method').choices(['mopro', 'ce']).default('mopro'))
    .addOption(backend)
    .option('--seed <n>', 'random seed', int('--seed', 0))
    .option('--arch <name>', 'backbone (default depends on backend and image size)')
    .option('--resume', 'continue from the run folder\'s last checkpoint')
    .action(trainCmd);
  program.command('predict')
    .description('classify every image under <folder> (recursively) with the run\'s model')
    .argument('<run>', 'run folder written by train')
    .argument('<folder>', 'images to classify')
    .option('--out <file.csv>', 'predictions CSV to write')
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .action(predictCmd);
  program.command('serve')
    .description('browser mode: the UI and the API on 127.0.0.1 with a random token')
    .option('--port <n>', 'port (default: a free one)', int('--port', 0))
    .option('--dataset <dir>', 'dataset to open first')
    .action(async (o: { port?: number; dataset?: string }) => {
      const { serveCommand } = await import('./server/commands');
      await serveCommand({ port: o.port, dataset: o.dataset ? path.resolve(o.dataset) : undefined });
    });
  program.command('export')
    .description('write the cleaned dataset (never touches the original folder)')
    .argument('<project-or-run>', 'dataset folder (with review decisions) or run folder')
    .option('--to <dir>', 'destination folder (must be empty or absent)')
    .addOption(new Option('--mode <m>', 'how files are written').choices(['copy', 'hardlink', 'manifest']).default('copy'))
    .option('--ood', 'also write OOD images to <dir>/_ood/')
    .action(async (source: string, o: { to?: string; mode: 'copy' | 'hardlink' | 'manifest'; ood?: boolean }) => {
      if (!o.to) throw new UsageError('export needs --to <dir>');
      const { exportCommand } = await import('./server/commands');
      await exportCommand({ source: path.resolve(source), to: path.resolve(o.to), mode: o.mode, includeOod: Boolean(o.ood) });
    });
  return program;
}

export async function main(argv = process.argv) {
  const program = buildProgram();
  // The benchmark reads peak memory from here: training runs in a worker thread of this process.
  if (process.env.MOPRO_REPORT_RUSAGE) {
    process.on('exit', () => process.stderr.write(`rusage ${JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`));
  }
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      process.exit(2); // commander already printed the reason
    }
    if (e instanceof UsageError) fail(e.message, 2);
    const err = e as NodeJS.ErrnoException;
    fail(err?.message ?? String(e), 1);
  }
}

const invoked = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (invoked) void main();
