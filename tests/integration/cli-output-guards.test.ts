// Reliability: outputs never land in the dataset or on a file we did not write, usage errors are clear
// one-liners with exit code 2, and a signal during a scan ends the CLI at once. Every refusal is checked
// against a snapshot of the user's folders (each entry's type, size, mtime, mode, link target and
// content hash): 0 changed, 0 added, 0 removed. One real 1-epoch training on a tiny folder covers
// --force (the old run kept beside the new one) and a real checkpoint for the --resume check.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moproRunner } from '../fixtures/cli';
import { PREDICTIONS_HEADER } from '../../src-shared/run-format';

const repo = path.resolve(import.meta.dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-rel-out-'));
const env = { ...process.env, MOPRO_CACHE_DIR: path.join(tmp, 'cache'), MOPRO_DATA_DIR: path.join(tmp, 'data') };
const user = path.join(tmp, 'user'); //     everything under here belongs to the "user"
const ds = path.join(user, 'ds');
const other = path.join(user, 'other-ds');

const mopro = moproRunner(env, 120_000);

/** The same as mopro(), without blocking: refusals run a few at a time (each is mostly tsx start-up). */
function moproAsync(argv: string[]): Promise<{ code: number | null; stderr: string; signal: string | null }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [path.join(repo, 'bin', 'mopro.mjs'), ...argv], {
      cwd: repo,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    c.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const t = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, stderr, signal });
    });
  });
}

/** Every entry under `root` (links not followed) -> type, size, mtime, mode, link target, content hash. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const kind = st.isSymbolicLink()
        ? `link:${fs.readlinkSync(p)}`
        : st.isDirectory()
          ? 'dir'
          : `file:${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16)}`;
      out.set(path.relative(root, p), `${kind} ${st.size} ${st.mtimeMs} ${st.mode}`);
      if (st.isDirectory() && !st.isSymbolicLink()) walk(p);
    }
  };
  walk(root);
  return out;
}

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const d: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) d.push(`${b.has(k) ? 'changed' : 'removed'} ${k}`);
  for (const k of b.keys()) if (!a.has(k)) d.push(`added ${k}`);
  return d;
}

const tally = { cases: 0, changed: 0, hangs: 0 };
let before: Map<string, string>;

/** Refused commands, 3 at a time: each exits `code` with a one-line reason matching its pattern; not one user file touched. */
async function refuseAll(cases: [string[], number, RegExp][]): Promise<void> {
  const results: Awaited<ReturnType<typeof moproAsync>>[] = [];
  for (let i = 0; i < cases.length; i += 3)
    results.push(...(await Promise.all(cases.slice(i, i + 3).map(([argv]) => moproAsync(argv)))));
  tally.cases += cases.length;
  const changes = diff(before, snapshot(user));
  tally.changed += changes.length;
  expect(changes, 'user files changed').toEqual([]);
  cases.forEach(([argv, code, re], i) => {
    const r = results[i]!;
    if (r.signal) tally.hangs++;
    expect([r.code, r.stderr.trim()], argv.join(' ')).toEqual([code, expect.stringMatching(re)]);
    expect(r.stderr.trim().split('\n'), `${argv.join(' ')}: one line`).toHaveLength(1);
  });
}

/** A refused command: exit code, a one-line reason matching `re`, and not one user file touched. */
function refused(argv: string[], code: number, re: RegExp) {
  tally.cases++;
  const t0 = Date.now();
  const r = mopro(...argv);
  if (r.signal) tally.hangs++;
  const changes = diff(before, snapshot(user));
  tally.changed += changes.length;
  expect(changes, `${argv.join(' ')} changed user files`).toEqual([]);
  expect([r.code, r.stderr.trim()], argv.join(' ')).toEqual([code, expect.stringMatching(re)]);
  expect(r.stderr.trim().split('\n'), 'one line').toHaveLength(1);
  expect(Date.now() - t0).toBeLessThan(60_000);
  return r;
}

async function png(file: string, v: number) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const px = Buffer.alloc(8 * 8, v);
  for (let i = 0; i < px.length; i += 3) px[i] = (v * 7 + i) % 256;
  await sharp(px, { raw: { width: 8, height: 8, channels: 1 } })
    .png()
    .toFile(file);
}

beforeAll(async () => {
  for (const [root, classes] of [
    [ds, ['cat', 'dog']],
    [other, ['ant', 'bee', 'cow']],
  ] as const) {
    for (const [k, c] of classes.entries())
      for (let i = 0; i < 8; i++) await png(path.join(root, c, `${i}.png`), 40 * k + 5 * i);
  }
  // The user's own files beside the dataset: an image, a CSV of their own, a folder of notes, a link into the dataset.
  await png(path.join(user, 'photo.png'), 99);
  fs.writeFileSync(path.join(user, 'mine.csv'), 'a,b\n1,2\n');
  fs.mkdirSync(path.join(user, 'notes'));
  fs.writeFileSync(path.join(user, 'notes', 'todo.txt'), 'keep me\n');
  fs.writeFileSync(path.join(user, 'keep.csv'), `${PREDICTIONS_HEADER.join(',')}\n`);
  fs.writeFileSync(path.join(user, 'keep.csv.summary.json'), '{"mine": true}\n');
  fs.symlinkSync(path.join(ds, 'cat'), path.join(user, 'cat-link'));
  // A run folder of someone else's (run.json of a different shape) and a fake finished MoPro run.
  fs.mkdirSync(path.join(user, 'their-run'));
  fs.writeFileSync(path.join(user, 'their-run', 'run.json'), '{"state": "done"}\n');
  fs.mkdirSync(path.join(user, 'done-run'));
  fs.writeFileSync(
    path.join(user, 'done-run', 'run.json'),
    JSON.stringify({ version: 1, state: 'done', dataset: ds, config: {}, epochs: [{}, {}] }),
  );
  fs.cpSync(path.join(user, 'done-run'), path.join(user, 'done-run-2'), { recursive: true });
  before = snapshot(user);
}, 60_000);

afterAll(() => {
  console.log(`output guard: ${tally.cases} cases tried, ${tally.changed} user files changed, ${tally.hangs} hangs`);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('train / predict / cRT / export refuse outputs in the dataset or on user files (exit 2, nothing touched)', () => {
  it('train --out: the dataset, a class folder, a link into it, a folder above it, a file, a foreign folder, a finished run', async () => {
    const t = (out: string, re: RegExp, ...extra: string[]): [string[], number, RegExp] => [
      ['train', ds, '--out', out, '--epochs', '1', ...extra],
      2,
      re,
    ];
    await refuseAll([
      t(ds, /is inside the dataset/),
      t(path.join(ds, 'cat', 'run'), /is inside the dataset/),
      t(path.join(user, 'cat-link', 'run'), /is inside the dataset/), // real paths compared
      t(user, /contains the dataset/),
      t(path.join(user, 'photo.png'), /is a file, not a run folder/),
      t(path.join(user, 'notes'), /not empty .* not a MoPro run folder/),
      t(path.join(user, 'their-run'), /not a MoPro run folder/),
      t(path.join(user, 'done-run'), /already holds a finished run .*--resume.*--force/),
      t(path.join(user, 'new-run'), /--resume .* or --force .* not both/, '--resume', '--force'),
    ]);
    expect(fs.existsSync(path.join(user, 'new-run'))).toBe(false);
  }, 120_000);

  it("predict --out: an image, a folder, a CSV of someone else's, a summary of someone else's, inside the images", async () => {
    const run = path.join(user, 'done-run');
    const p = (out: string, re: RegExp, folder = ds): [string[], number, RegExp] => [
      ['predict', run, folder, '--out', out],
      2,
      re,
    ];
    await refuseAll([
      p(path.join(user, 'photo.png'), /exists and was not written by MoPro Studio/),
      p(path.join(user, 'notes'), /is a folder: give a file name/),
      p(path.join(user, 'mine.csv'), /was not written by MoPro Studio/),
      p(path.join(user, 'keep.csv'), /keep\.csv\.summary\.json exists and is not a predictions summary/),
      p(path.join(ds, 'cat', 'pred.csv'), /is inside the image folder/),
      p(path.join(ds, 'pred.csv'), /is inside the run's dataset/, other),
    ]);
  }, 120_000);

  it('retrain-classifier / probe --out, usage errors with the bound named (--image-size, serve --port): exit 2; system folders: exit 1', async () => {
    const run = path.join(user, 'done-run');
    await refuseAll([
      [['retrain-classifier', run, '--out', path.join(ds, 'crt')], 2, /is inside the run's dataset/],
      [['retrain-classifier', run, '--out', run], 2, /is inside the source run/],
      [
        ['retrain-classifier', run, '--out', path.join(user, 'done-run-2')],
        2,
        /already holds a finished run .*--force/,
      ],
      [['retrain-classifier', run, '--out', path.join(user, 'their-run')], 2, /not a MoPro run folder/],
      [['probe', run, ds, '--out', path.join(user, 'mine.csv')], 2, /not a probe report written by MoPro Studio/],
      [
        ['train', ds, '--out', path.join(tmp, 'r-size'), '--image-size', '100000'],
        2,
        /--image-size must be at most 512/,
      ],
      [['train', ds, '--out', path.join(tmp, 'r-size'), '--image-size', '1024'], 2, /--image-size must be at most 512/],
      [['serve', '--port', '99999'], 2, /--port must be at most 65535/],
      [
        ['train', '/', '--out', path.join(tmp, 'r-root')],
        1,
        /'\/' is the root of a file system or drive, not a dataset/,
      ],
      [['predict', run, '/proc', '--out', path.join(tmp, 'p-proc.csv')], 1, /'\/proc' is a system folder/],
    ]);
    for (const f of ['r-size', 'r-root', 'p-proc.csv']) expect(fs.existsSync(path.join(tmp, f))).toBe(false);
  }, 120_000);

  it('export: a class named labels.csv, a class named _ood with --ood: refused before anything is copied', async () => {
    const bad = path.join(user, 'bad-names');
    for (const c of ['labels.csv', '_ood', 'ok'])
      for (let i = 0; i < 2; i++) await png(path.join(bad, c, `${i}.png`), 10 * i + c.length);
    before = snapshot(user);
    const to = path.join(tmp, 'export-1');
    refused(
      ['export', bad, '--to', to],
      1,
      /class 'labels\.csv' would be written as the folder 'labels\.csv', the manifest's name/,
    );
    expect(fs.existsSync(to)).toBe(false);
    fs.rmSync(path.join(bad, 'labels.csv'), { recursive: true });
    before = snapshot(user);
    refused(
      ['export', bad, '--to', to, '--ood'],
      1,
      /class '_ood' would merge with the folder of out-of-distribution images/,
    );
    expect(fs.existsSync(to)).toBe(false);
    // Without --ood there is no OOD folder to merge with: the export goes through.
    const r = mopro('export', bad, '--to', to);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(to).sort()).toEqual(['_ood', 'labels.csv', 'ok']);
    expect(diff(before, snapshot(user))).toEqual([]);
  }, 120_000);
});

describe('a finished run is replaced only with --force (kept beside), --resume refuses another dataset', () => {
  const run = path.join(tmp, 'run');
  it('--force moves the old run aside and trains; --resume on another dataset names both', () => {
    fs.mkdirSync(run);
    const old = { version: 1, state: 'done', dataset: ds, config: {}, epochs: [], marker: 'the old run' };
    fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify(old));
    const r = mopro(
      'train',
      ds,
      '--out',
      run,
      '--epochs',
      '1',
      '--image-size',
      '8',
      '--batch-size',
      '4',
      '--seed',
      '1',
      '--force',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--force: the old run is kept as .*run\.old-\d{8}T\d{6}Z/);
    const kept = fs.readdirSync(tmp).filter((n) => n.startsWith('run.old-'));
    expect(kept).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, kept[0]!, 'run.json'), 'utf8')).marker).toBe('the old run');
    const fresh = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
    expect(fresh.state).toBe('done');
    expect(fresh.datasetSummary.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const ck = JSON.parse(fs.readFileSync(path.join(run, 'checkpoint', 'checkpoint.json'), 'utf8'));
    expect(ck.dataset).toMatchObject({ root: ds, classes: ['cat', 'dog'], images: 16 });

    // The same run without --resume or --force: refused, untouched.
    const runBefore = snapshot(run);
    before = snapshot(user);
    refused(['train', ds, '--out', run, '--epochs', '1'], 2, /already holds a finished run/);
    // --resume with another dataset (other classes): refused, naming both folders and class lists.
    const res = refused(
      ['train', other, '--out', run, '--resume'],
      2,
      /--resume: the run in .* was trained on .*ds with classes \[cat, dog\]; .*other-ds has classes \[ant, bee, cow\]/,
    );
    expect(res.stderr).toContain(ds);
    expect(res.stderr).toContain(other);
    // Same classes, one image more: refused as changed files.
    const grown = path.join(tmp, 'grown');
    fs.cpSync(ds, grown, { recursive: true });
    fs.copyFileSync(path.join(ds, 'cat', '0.png'), path.join(grown, 'cat', 'extra.png'));
    refused(
      ['train', grown, '--out', run, '--resume'],
      2,
      /\(16 images, .*grown has 17 images .*files were added, removed or changed/,
    );
    expect(diff(runBefore, snapshot(run))).toEqual([]);

    // predict may replace its own earlier CSV (our header), never anything else.
    const pred = path.join(user, 'keep2.csv');
    fs.writeFileSync(pred, `${PREDICTIONS_HEADER.join(',')}\nold,row,0,0\n`);
    const pr = mopro('predict', run, other, '--out', pred);
    expect(pr.code, pr.stderr).toBe(0);
    expect(fs.readFileSync(pred, 'utf8').split('\n').length).toBe(2 + 24);
  }, 240_000);
});

describe('a signal during a scan ends the CLI at once', () => {
  it('SIGTERM while scanning 8 class folders that link to each other: exit within 2 s', async () => {
    const tree = path.join(tmp, 'cycle');
    const classes = 'abcdefgh'.split('');
    for (const c of classes)
      for (let i = 0; i < 20; i++) await png(path.join(tree, c, `${i}.png`), i + c.charCodeAt(0));
    for (const c of classes)
      for (const d of classes) if (c !== d) fs.symlinkSync(`../${d}`, path.join(tree, c, `to-${d}`));
    tally.cases++;
    const child = spawn(
      process.execPath,
      [path.join(repo, 'bin', 'mopro.mjs'), 'train', tree, '--out', path.join(tmp, 'cycle-run'), '--epochs', '50'],
      { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal, at: Date.now() })),
    );
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no scan started in 60 s: ${stderr}`)), 60_000);
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (/scan 0\/1/.test(stderr)) {
          clearTimeout(t);
          res();
        }
      });
    });
    const sent = Date.now();
    child.kill('SIGTERM');
    const deadline = new Promise<null>((res) => setTimeout(() => res(null), 10_000));
    const r = await Promise.race([exited, deadline]);
    if (!r) {
      tally.hangs++;
      child.kill('SIGKILL');
    }
    expect(r, `still running 10 s after SIGTERM: ${stderr}`).not.toBeNull();
    const secs = (r!.at - sent) / 1000;
    console.log(`SIGTERM during the scan: exited in ${secs.toFixed(2)} s (code ${r!.code}, signal ${r!.signal})`);
    expect(secs).toBeLessThan(2);
    expect(r!.code).toBe(143);
    expect(stderr).toMatch(/stopped before training started \(SIGTERM\)/);
  }, 90_000);
});
