// Reliability: SIGKILL `mopro train` at random points (mostly mid-epoch, sometimes during start-up),
// then `--resume` each time. After every kill the run folder holds no half-written file (run.json
// parses, samples.csv absent or complete) and the resumed run never goes back more than the epoch
// that was in flight; the last resume finishes with a complete samples.csv and a consistent run.json.
// CI: 3 kills; MOPRO_LONG_TESTS=1: 20.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src-main/util/csv';
import { RUN_JSON, SAMPLES_CSV, SAMPLES_HEADER } from '../../src-shared/run-format';
import { rng } from '../fixtures/project';

const KILLS = process.env.MOPRO_LONG_TESTS === '1' ? 20 : 3;
const EPOCHS = KILLS + 2;
const N = 200;
const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(repo, '..', 'shared');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-crash-train-resume-'));
const data = path.join(tmp, 'noisy');
const out = path.join(tmp, 'run');
const env = { ...process.env, MOPRO_DATA_DIR: path.join(tmp, 'data'), MOPRO_CACHE_DIR: path.join(tmp, 'cache') };
const args = [
  'train',
  data,
  '--out',
  out,
  '--epochs',
  String(EPOCHS),
  '--image-size',
  '8',
  '--batch-size',
  '32',
  '--seed',
  '7',
  '--resume',
];

beforeAll(() => {
  const r = spawnSync(
    process.execPath,
    [
      path.join(shared, 'bench', 'make-noisy-folder.mjs'),
      '--out',
      data,
      '--n',
      String(N),
      '--noise',
      '0.3',
      '--ood',
      '0.05',
      '--seed',
      '11',
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The run folder right after a kill: nothing half-written. */
function checkFolderAfterKill(): { epochsInRunJson: number } {
  let epochsInRunJson = 0;
  if (fs.existsSync(path.join(out, RUN_JSON))) {
    const j = JSON.parse(fs.readFileSync(path.join(out, RUN_JSON), 'utf8')); // throws if torn
    epochsInRunJson = j.epochs.length;
  }
  if (fs.existsSync(path.join(out, SAMPLES_CSV))) {
    expect(parseCsv(fs.readFileSync(path.join(out, SAMPLES_CSV), 'utf8'), SAMPLES_HEADER).length).toBe(N);
  }
  const stray = fs
    .readdirSync(out, { recursive: true })
    .map(String)
    .filter((f) => /\.tmp$|\.partial$/.test(f));
  if (stray.length) console.log(`crash-train: temp files left by the kill (harmless, not read): ${stray.join(', ')}`);
  return { epochsInRunJson };
}

describe('training survives SIGKILL + --resume', () => {
  it(
    `${KILLS} kills at random points, then a complete run`,
    async () => {
      const r = rng(2026);
      let kills = 0,
        attempts = 0,
        epochLost = 0,
        lastCheckpointEpoch = 0,
        epochMs = 1500;
      const resumedAt: number[] = [];
      while (kills < KILLS && attempts < KILLS * 3) {
        attempts++;
        const child = spawn(process.execPath, [path.join(repo, 'bin', 'mopro.mjs'), ...args], {
          cwd: repo,
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        const t0 = Date.now();
        let lastEpochAt = 0,
          epochLines = 0;
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (s: string) => {
          err += s;
          for (const _ of s.matchAll(/^epoch \d+:/gm)) {
            const now = Date.now();
            if (lastEpochAt) epochMs = 0.5 * epochMs + 0.5 * (now - lastEpochAt);
            lastEpochAt = now;
            epochLines++;
          }
        });
        const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
        const early = r() < 0.25;
        if (early) {
          await Promise.race([exited, new Promise((res) => setTimeout(res, r() * 2500))]); // start-up, scan, decode, first steps
        } else {
          // Let one epoch finish (so each round makes progress), then kill at a random point of the next.
          while (epochLines === 0 && child.exitCode === null && Date.now() - t0 < 120_000)
            await new Promise((res) => setTimeout(res, 10));
          await Promise.race([exited, new Promise((res) => setTimeout(res, 50 + r() * epochMs * 0.9))]);
        }
        if (child.exitCode !== null) {
          // It finished before we struck: the run is complete, which is fine but is not a crash survived.
          await exited;
          break;
        }
        child.kill('SIGKILL');
        await exited;
        kills++;
        const m = /resumed at epoch (\d+), step (\d+)/.exec(err);
        if (m) {
          const at = Number(m[1]) - 1; // epochs already done when this round started
          resumedAt.push(at);
          if (at < lastCheckpointEpoch) epochLost += lastCheckpointEpoch - at;
          expect(at).toBeGreaterThanOrEqual(lastCheckpointEpoch - 1); // at most the in-flight epoch is redone
        }
        const { epochsInRunJson } = checkFolderAfterKill();
        lastCheckpointEpoch = Math.max(lastCheckpointEpoch, epochsInRunJson);
      }
      // Final resume to the end.
      const fin = spawnSync(process.execPath, [path.join(repo, 'bin', 'mopro.mjs'), ...args], {
        cwd: repo,
        env,
        encoding: 'utf8',
        timeout: 300_000,
      });
      expect(fin.status, fin.stderr.slice(-2000)).toBe(0);
      const text = fs.readFileSync(path.join(out, SAMPLES_CSV), 'utf8');
      expect(text.split(/\r?\n/)[0]).toBe(SAMPLES_HEADER.join(','));
      const rows = parseCsv(text, SAMPLES_HEADER);
      expect(rows.length).toBe(N);
      const onDisk = fs
        .readdirSync(data, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.png'))
        .map((f) => f.split(path.sep).join('/'))
        .sort();
      expect(rows.map((x) => x.path).sort()).toEqual(onDisk);
      const run = JSON.parse(fs.readFileSync(path.join(out, RUN_JSON), 'utf8'));
      expect(run.state).toBe('done');
      expect(run.epochs.map((e: { epoch: number }) => e.epoch)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i));
      expect(run.counts.clean + run.counts.relabeled + run.counts.ood).toBe(N);
      console.log(
        `crash-train-resume summary: crashes survived ${kills} (of ${attempts} starts), resumed at epochs [${resumedAt.join(', ')}], epochs redone ${epochLost}, final samples.csv ${rows.length}/${N} rows`,
      );
      expect(kills).toBeGreaterThan(0);
    },
    60_000 + KILLS * 40_000,
  );
});
