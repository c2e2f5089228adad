// Kill `mopro export` (SIGKILL) at random moments: the destination must then be either complete
// (labels.csv, every file, no marker) or carry the .mopro-export-incomplete marker; never silently partial.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDataset, rng } from '../fixtures/project';
import { INCOMPLETE_MARKER } from '../../src-main/project/export';

const ROUNDS = process.env.MOPRO_LONG_TESTS === '1' ? 20 : 3;
const repo = path.resolve(import.meta.dirname, '../..');
const cli = path.join(repo, 'src-main/cli.ts');
let base: string, root: string;
const PER_CLASS = 600;

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-crash-export-'));
  root = path.join(base, 'ds');
  await makeDataset(root, ['a', 'b'], PER_CLASS);
}, 120_000);
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const countFiles = (dir: string): number =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length;

describe.skipIf(!fs.existsSync(cli))('export survives SIGKILL without a silently partial result', () => {
  it(
    `${ROUNDS} kills at random points`,
    async () => {
      const r = rng(5);
      const env = {
        ...process.env,
        MOPRO_DATA_DIR: path.join(base, 'data'),
        MOPRO_CACHE_DIR: path.join(base, 'cache'),
      };
      const outcomes = { incomplete: 0, complete: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        const to = path.join(base, `out-${round}`);
        const child = spawn(process.execPath, ['--import', 'tsx', cli, 'export', root, '--to', to, '--mode', 'copy'], {
          cwd: repo,
          env,
          stdio: 'ignore',
        });
        // Wait until the export has begun writing, then kill at a random point of it.
        const t0 = Date.now();
        while (!fs.existsSync(to) && Date.now() - t0 < 30_000 && child.exitCode === null)
          await new Promise((res) => setTimeout(res, 5));
        await new Promise((res) => setTimeout(res, r() * 300));
        child.kill('SIGKILL');
        if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
        // Killed before the marker was written: an empty folder cannot be mistaken for an export.
        if (!fs.existsSync(to) || fs.readdirSync(to).length === 0) continue;
        const marked = fs.existsSync(path.join(to, INCOMPLETE_MARKER));
        if (marked) outcomes.incomplete++;
        else {
          outcomes.complete++;
          expect(fs.existsSync(path.join(to, 'labels.csv'))).toBe(true);
          expect(countFiles(to)).toBe(2 * PER_CLASS + 1);
        }
      }
      console.log(
        `crash-export: ${ROUNDS} SIGKILLs -> ${outcomes.incomplete} marked incomplete, ${outcomes.complete} complete, 0 silently partial`,
      );
      expect(outcomes.incomplete + outcomes.complete).toBeGreaterThan(0);
    },
    60_000 + ROUNDS * 30_000,
  );
});
