// What the benchmarks that train through the CLI share: argument parsing, the generated Fashion-MNIST cases
// (../shared/bench/make-noisy-folder.mjs), `mopro` child processes at lower priority, run.json, mean ± sd cells.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { presetEpochs, presets } from '../src-shared/presets';

export const root = path.resolve(import.meta.dirname, '..');
export const shared = path.resolve(root, '..', 'shared');
export const dataDir = path.join(root, 'bench-data');

/** `--key value` pairs; a `--flag` without a value is true. */
export function parseArgs(argv: string[]): Record<string, string | boolean> {
  const a: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith('--')) throw new Error(`unexpected argument ${k}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) a[k.slice(2)] = true;
    else {
      a[k.slice(2)] = next;
      i++;
    }
  }
  return a;
}

/** A comma-separated option as a list (`d` when the option is absent). */
export const list = (v: unknown, d: string) =>
  String(v ?? d)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function makeFolder(argv: string[]) {
  const r = spawnSync(process.execPath, [path.join(shared, 'bench', 'make-noisy-folder.mjs'), ...argv], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`make-noisy-folder.mjs ${argv.join(' ')} failed`);
}

export interface Case {
  id: string;
  noisy: string;
  truth: string;
  test: string;
  make: string[] | null;
}

/** 40% symmetric noise + 10% MNIST digits, seed 1; the same folder names as `npm run bench`, so all benches share the data. */
export function generatedCase(id: string, n: number, testN: number): Case {
  const tag = `n${n}-noise0.4-ood0.1-test${testN}-seed1`;
  const noisy = path.join(dataDir, `fm-noisy-${tag}`),
    test = path.join(dataDir, `fm-test-${tag}`);
  return {
    id,
    noisy,
    truth: `${noisy}.truth.jsonl`,
    test,
    make: [
      '--out',
      noisy,
      '--n',
      String(n),
      '--noise',
      '0.4',
      '--ood',
      '0.1',
      '--test-out',
      test,
      '--test-n',
      String(testN),
      '--seed',
      '1',
    ],
  };
}

/** The epochs the app's Quick preset starts a run with (src-renderer/src/stores/train.ts): 12k image passes within 5..40 epochs. */
/** The epochs the app's Quick preset starts a run with on a folder of `images` images. */
export const quickEpochs = (images: number) =>
  presetEpochs(
    presets.find((p) => p.id === 'quick')!,
    images,
  );

export interface Timed {
  wallSeconds: number;
  code: number;
}

/** One CLI command as a child process at lower priority; its output goes to a log file. */
export function cli(argv: string[], logFile: string, env?: Record<string, string>): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const fd = fs.openSync(logFile, 'a');
    const envText = env ? Object.entries(env).map(([k, v]) => `${k}='${v}' `) : [];
    fs.writeSync(fd, `$ ${envText.join('')}mopro ${argv.join(' ')}\n`);
    const child = spawn('nice', ['-n', '5', process.execPath, path.join(root, 'bin', 'mopro.mjs'), ...argv], {
      cwd: root,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    child.on('error', (e) => {
      fs.closeSync(fd);
      reject(e);
    });
    child.on('close', (code) => {
      fs.closeSync(fd);
      resolve({ wallSeconds: (Date.now() - t0) / 1000, code: code ?? 1 });
    });
  });
}

export interface RunJson {
  state?: string;
  config?: { epochs: number; batchSize: number; arch: string; seed: number; method: string };
  datasetSummary?: { excluded?: number; classes: string[] };
  wall?: { trainSeconds?: number };
  adaptations?: string[];
  finalPass?: Record<string, unknown>;
  [k: string]: unknown;
}

export const readRunJson = (run: string): RunJson | null => {
  try {
    return JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')) as RunJson;
  } catch {
    return null;
  }
};

export const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
/** Sample standard deviation (n - 1); NaN for one value. */
export const sd = (v: number[]) =>
  v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1)) : NaN;

/** A table cell: mean ± sd of the finite values, as % (fractions) or whole numbers; '-' when there are none. */
export function cell(vals: (number | undefined)[], kind: 'pct' | 'num'): string {
  const v = vals.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return '-';
  const f = (x: number) => (kind === 'pct' ? (100 * x).toFixed(1) : x.toFixed(0));
  return v.length > 1 ? `${f(mean(v))} ± ${f(sd(v))}` : f(v[0]);
}
