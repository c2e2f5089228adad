// Kill `mopro export` (SIGKILL) at random moments, in copy and hardlink mode. After each kill:
//   - a folder without the .mopro-export-incomplete marker is a complete export: labels.csv parses with one row
//     per image, every exported file is byte-identical to its source, and nothing else is there (no temp files);
//   - a folder with the marker has it as a plain readable note: never silently partial;
//   - the source dataset is untouched (mode, size, mtime of every entry).
// Then exporting again into a fresh folder completes, and exporting into a killed (marked) folder is refused.
// CI: 4 rounds (2 per mode); MOPRO_LONG_TESTS=1: 20.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDataset, rng } from '../fixtures/project';
import { INCOMPLETE_MARKER, LABELS_HEADER } from '../../src-main/project/export';
import { parseCsv } from '../../src-main/util/csv';

const ROUNDS = process.env.MOPRO_LONG_TESTS === '1' ? 20 : 4;
const repo = path.resolve(import.meta.dirname, '../..');
const bin = path.join(repo, 'bin', 'mopro.mjs');
const PER_CLASS = 600;
let base: string, root: string, env: NodeJS.ProcessEnv;
const hashes = new Map<string, string>(); // rel path -> sha1 of the source file

const sha = (f: string) => crypto.createHash('sha1').update(fs.readFileSync(f)).digest('hex');
function snapshot(dir: string): string {
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .sort()
    .map((rel) => {
      const st = fs.lstatSync(path.join(dir, rel));
      return `${rel}:${st.mode}:${st.size}:${st.mtimeMs}`;
    })
    .join('\n');
}
const countFiles = (dir: string): number =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length;

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-crash-export-'));
  root = path.join(base, 'ds');
  const files = await makeDataset(root, ['a', 'b'], PER_CLASS);
  for (const f of files) hashes.set(f.rel, sha(path.join(root, f.rel)));
  env = { ...process.env, MOPRO_DATA_DIR: path.join(base, 'data'), MOPRO_CACHE_DIR: path.join(base, 'cache') };
}, 120_000);
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

/** A folder without the marker must be a complete, byte-exact export: labels.csv and the images, nothing else. */
function checkComplete(to: string): void {
  const labels = parseCsv(fs.readFileSync(path.join(to, 'labels.csv'), 'utf8'), LABELS_HEADER);
  expect(labels.length).toBe(2 * PER_CLASS);
  for (const l of labels) {
    const dest = path.join(to, l.final_label, path.basename(l.path));
    expect([l.path, fs.existsSync(dest) && sha(dest) === hashes.get(l.path)]).toEqual([l.path, true]);
  }
  expect(countFiles(to)).toBe(2 * PER_CLASS + 1);
}

describe('export killed mid-copy: complete or marked, never silently partial; source untouched', () => {
  it(
    `${ROUNDS} SIGKILLs at random points in copy and hardlink mode`,
    async () => {
      const before = snapshot(root);
      const r = rng(77);
      const tally = { marked: 0, complete: 0, empty: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        const mode = round % 2 ? 'hardlink' : 'copy';
        const to = path.join(base, `out-${round}`);
        const child = spawn(process.execPath, [bin, 'export', root, '--to', to, '--mode', mode], {
          cwd: repo,
          env,
          stdio: 'ignore',
        });
        // Wait until the export has begun writing, then kill at a random point of it.
        const t0 = Date.now();
        while (!fs.existsSync(to) && child.exitCode === null && Date.now() - t0 < 60_000)
          await new Promise((res) => setTimeout(res, 5));
        await new Promise((res) => setTimeout(res, r() * 400));
        if (child.exitCode === null) child.kill('SIGKILL');
        if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
        // Killed before the marker was written: an empty folder cannot be mistaken for an export.
        if (!fs.existsSync(to) || fs.readdirSync(to).length === 0) {
          tally.empty++;
          continue;
        }
        if (fs.existsSync(path.join(to, INCOMPLETE_MARKER))) {
          tally.marked++;
          expect(fs.readFileSync(path.join(to, INCOMPLETE_MARKER), 'utf8')).toMatch(/interrupted|in progress/i);
        } else {
          tally.complete++;
          checkComplete(to);
        }
        expect(snapshot(root)).toBe(before);
      }
      // Some kill must have landed after the export began writing, or nothing above was checked.
      expect(tally.marked + tally.complete).toBeGreaterThan(0);
      // After the crashes, a fresh export completes.
      const fresh = path.join(base, 'fresh');
      const done = spawnSync(process.execPath, [bin, 'export', root, '--to', fresh, '--mode', 'copy'], {
        cwd: repo,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(done.status, done.stderr).toBe(0);
      checkComplete(fresh);
      expect(fs.existsSync(path.join(fresh, INCOMPLETE_MARKER))).toBe(false);
      // Exporting over a killed (marked) folder is refused: it is not empty.
      const marked = fs
        .readdirSync(base)
        .map((d) => path.join(base, d))
        .find((d) => fs.existsSync(path.join(d, INCOMPLETE_MARKER)));
      if (marked) {
        const again = spawnSync(process.execPath, [bin, 'export', root, '--to', marked], {
          cwd: repo,
          env,
          encoding: 'utf8',
          timeout: 60_000,
        });
        expect(again.status).toBe(1);
        expect(again.stderr).toContain('not empty');
      }
      expect(snapshot(root)).toBe(before);
      console.log(
        `crash-export: ${ROUNDS} SIGKILLs -> ${tally.marked} marked incomplete, ${tally.complete} complete and byte-exact, ${tally.empty} killed before writing; 0 silently partial, source entries changed 0`,
      );
    },
    60_000 + ROUNDS * 30_000,
  );
});
