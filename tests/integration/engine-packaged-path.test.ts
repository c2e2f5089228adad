// A checkout under a folder with a space and non-ASCII letters ("Mo Pro Stüdio", as every installed
// copy of "MoPro Studio" sits under one) trains on wasm, not the pure-JS cpu fallback: the wasm
// binaries, the job entry and the CLI's own path are found there. The tfjs-backend-wasm package is a
// real copy under that folder (Node resolves symlinks to their targets, which would hide the bug);
// every other package is linked.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDataset } from '../fixtures/project';
import { tsxImportArg } from '../../src-main/engine/job-runner';

const repo = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-path-'));
const root = path.join(tmp, 'Mo Pro Stüdio');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function copyCheckout(): void {
  fs.mkdirSync(root);
  for (const f of ['src-main', 'src-shared', 'package.json', 'tsconfig.json', 'tsconfig.node.json']) {
    if (fs.existsSync(path.join(repo, f)))
      fs.cpSync(path.join(repo, f), path.join(root, f), { recursive: true, filter: (s) => !s.endsWith('.test.ts') });
  }
  const nm = path.join(root, 'node_modules');
  fs.mkdirSync(path.join(nm, '@tensorflow'), { recursive: true });
  for (const e of fs.readdirSync(path.join(repo, 'node_modules'))) {
    if (e !== '@tensorflow') fs.symlinkSync(path.join(repo, 'node_modules', e), path.join(nm, e));
  }
  for (const e of fs.readdirSync(path.join(repo, 'node_modules', '@tensorflow'))) {
    const src = path.join(repo, 'node_modules', '@tensorflow', e);
    if (e === 'tfjs-backend-wasm') fs.cpSync(src, path.join(nm, '@tensorflow', e), { recursive: true });
    else fs.symlinkSync(src, path.join(nm, '@tensorflow', e));
  }
}

describe('a checkout under "Mo Pro Stüdio"', () => {
  it('`mopro train` (backend auto) picks wasm and trains', async () => {
    copyCheckout();
    const data = path.join(root, 'données', 'mon jeu');
    await makeDataset(data, ['chat noir', 'Œuf'], 12);
    const out = path.join(root, 'runs', 'première');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        tsxImportArg(),
        path.join(root, 'src-main', 'cli.ts'),
        'train',
        data,
        '--out',
        out,
        '--epochs',
        '1',
        '--batch-size',
        '8',
        '--image-size',
        '8',
        '--seed',
        '3',
      ],
      {
        cwd: tmp,
        encoding: 'utf8',
        env: { ...process.env, MOPRO_DATA_DIR: path.join(tmp, 'appdata'), MOPRO_CACHE_DIR: path.join(tmp, 'cache') },
        timeout: 120_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend: wasm /m);
    const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(run.state).toBe('done');
    expect(run.backend.name).toBe('wasm');
    expect(run.epochs).toHaveLength(1);
    expect(run.dataset).toBe(data);
  }, 150_000);
});
