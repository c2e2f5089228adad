// Reliability: bad files end to end: the base corpus (tests/fixtures/bad-files.ts) plus the extra cases
// (tests/fixtures/bad-files-extra.ts: 10,000 files in one class, a real decompression bomb, hostile
// names, a folder symlink loop) go through scan, decode, a 1-epoch CLI training, thumbnails via
// createService().image and exportCommand. Every bad file is skipped with a named reason, nothing
// crashes, memory stays bounded, and no file of the dataset is changed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBadCorpus, type BadCorpus } from '../fixtures/bad-files';
import { addExtraCases, type ExtraCorpus } from '../fixtures/bad-files-extra';
import { scanDataset } from '../../src-main/dataset/scan';
import { loadImages } from '../../src-main/dataset/decode';
import type { ScanResult } from '../../src-main/dataset/types';
import { createService } from '../../src-main/api/service';
import { parseCsv } from '../../src-main/util/csv';
import { SAMPLES_HEADER } from '../../src-shared/run-format';
import { INCOMPLETE_MARKER, LABELS_HEADER } from '../../src-main/project/export';

const LONG = process.env.MOPRO_LONG_TESTS === '1';
const MANY = 10_000;
const repo = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-rel-bad-'));
const dataDir = path.join(tmp, 'data');
const cache = path.join(tmp, 'cache');
let corpus: BadCorpus;
let extra: ExtraCorpus;
let scan: ScanResult;
let before: Map<string, string>;
const tally = { files: 0, skippedNamed: 0 };

/** Every entry under root (no symlink following) with its size, mtime and mode: the 'untouched' proof. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, d.name);
      const st = fs.lstatSync(abs);
      out.set(
        path.relative(root, abs),
        `${st.mode}:${st.size}:${st.mtimeMs}:${d.isSymbolicLink() ? fs.readlinkSync(abs) : ''}`,
      );
      if (d.isDirectory()) walk(abs);
    }
  };
  walk(root);
  return out;
}

beforeAll(async () => {
  const t0 = Date.now();
  corpus = await makeBadCorpus(tmp);
  extra = await addExtraCases(corpus.root, MANY);
  for (const n of corpus.notes) console.log(`NOTE: ${n}`);
  before = snapshot(corpus.root);
  console.log(`bad files: corpus generated in ${Date.now() - t0} ms`);
}, 120_000);

afterAll(() => {
  try {
    fs.chmodSync(path.join(corpus.root, 'bad/unreadable.png'), 0o644);
  } catch {
    /* absent */
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('bad-file corpus: scan, decode, train, thumbnails, export', () => {
  const skippedReasons = new Map<string, string>();

  it('scan + decode: every bad file skipped with a named reason, every good file decodes', async () => {
    const t0 = Date.now();
    scan = await scanDataset(corpus.root);
    const tScan = Date.now() - t0;
    for (const s of scan.skipped) skippedReasons.set(s.path, s.reason);
    const t1 = Date.now();
    const load = await loadImages(scan.samples, { size: 16, channels: 1, cacheDir: cache });
    const tLoad = Date.now() - t1;
    for (const s of load.skipped) skippedReasons.set(s.path, s.reason);
    for (const [p, reason] of skippedReasons) expect([p, reason.trim().length > 3]).toEqual([p, true]);
    const expectSkipped = [...corpus.expectSkipped, ...extra.expectSkipped];
    for (const rel of expectSkipped) {
      // A folder loop may be reported at the link or not walked at all; it must never produce samples.
      const sampled = scan.samples.some((s) => s.rel === rel || s.rel.startsWith(`${rel}/`));
      expect([rel, sampled && load.ok[scan.samples.findIndex((s) => s.rel === rel)]]).toEqual([rel, false]);
      if (!rel.endsWith('back-up')) expect([rel, skippedReasons.has(rel)]).toEqual([rel, true]);
    }
    const okSet = new Set(scan.samples.filter((_, i) => load.ok[i]).map((s) => s.rel));
    for (const rel of [...corpus.expectOk, ...extra.expectOk]) expect([rel, okSet.has(rel)]).toEqual([rel, true]);
    expect(scan.samples.filter((s) => s.label === extra.manyClass).length).toBe(MANY);
    // The a <-> b folder loop is walked at most once per real folder.
    expect(scan.samples.filter((s) => s.rel.includes('loop-')).length).toBeLessThanOrEqual(2);
    // NFC and NFD spellings of one name are two files and stay two samples.
    expect(scan.samples.filter((s) => s.rel.normalize('NFC').includes('café-n')).length).toBe(2);
    tally.files = scan.samples.length + scan.skipped.length;
    tally.skippedNamed = skippedReasons.size;
    const rss = process.resourceUsage().maxRSS / 1024;
    console.log(
      `bad files: scan ${tScan} ms, decode ${tLoad} ms over ${scan.samples.length} samples; ${skippedReasons.size} skipped with reasons; test-process peak RSS ${rss.toFixed(0)} MB`,
    );
    for (const [p, r] of [...skippedReasons].slice(0, 40)) console.log(`  skipped ${JSON.stringify(p)}: ${r}`);
    expect(rss).toBeLessThan(2048);
  }, 180_000);

  it('the CLI trains 1 epoch over the corpus, writes one samples.csv row per usable image, RSS bounded', () => {
    const out = path.join(tmp, 'run');
    const t0 = Date.now();
    const r = spawnSync(
      process.execPath,
      [
        path.join(repo, 'bin', 'mopro.mjs'),
        'train',
        corpus.root,
        '--out',
        out,
        '--epochs',
        '1',
        '--image-size',
        '8',
        '--batch-size',
        '256',
        '--seed',
        '1',
      ],
      {
        cwd: repo,
        encoding: 'utf8',
        timeout: 300_000,
        env: { ...process.env, MOPRO_DATA_DIR: dataDir, MOPRO_CACHE_DIR: cache, MOPRO_REPORT_RUSAGE: '1' },
      },
    );
    const secs = (Date.now() - t0) / 1000;
    expect(r.signal, r.stderr.slice(-2000)).toBeNull();
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const rows = parseCsv(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8'), SAMPLES_HEADER);
    const paths = new Set(rows.map((x) => x.path));
    expect(paths.size).toBe(rows.length);
    for (const rel of [...corpus.expectOk, ...extra.expectOk]) expect([rel, paths.has(rel)]).toEqual([rel, true]);
    // Skipped at scan: no row. Skipped at decode: a row marked ood (never a class the model 'cleaned' it into).
    for (const rel of [...corpus.expectSkipped, ...extra.expectSkipped]) {
      const row = rows.find((x) => x.path === rel);
      expect([rel, row ? row.status : 'absent']).toEqual([rel, expect.stringMatching(/^(absent|ood)$/)]);
    }
    const m = /rusage (\{.*\})/.exec(r.stderr);
    const rss = m ? (JSON.parse(m[1]).maxRssMB as number) : NaN;
    console.log(
      `bad files: CLI 1-epoch train over ${rows.length} rows in ${secs.toFixed(1)} s, peak RSS ${rss.toFixed(0)} MB`,
    );
    expect(rss).toBeLessThan(3072);
  }, 320_000);

  it('thumbnails through createService().image: good ones served, bad ones a clean NOT_FOUND', async () => {
    const svc = createService({ mode: 'browser', dataDir, cacheDir: cache, emit: () => undefined });
    try {
      const { id } = (await svc.call('projects.open', { path: corpus.root })) as { id: string };
      const many = scan.samples.filter((s) => s.label === extra.manyClass).map((s) => s.rel);
      const good = [...corpus.expectOk, ...extra.expectOk, ...(LONG ? many : many.slice(0, 200))];
      let served = 0;
      const limited: string[] = [];
      for (const rel of good) {
        // relPathProblem (src-shared/rel-path.ts) refuses '\\' and %2e/%2f/%5c/%00/%25 in a relative path outright (anti double-encoding),
        // so a real file with such a name gets no thumbnail: a known limitation, refused cleanly.
        if (/[\\]|%(2e|2f|5c|00|25)/i.test(rel)) {
          const e = await svc.image(id, rel, 'thumb').then(
            () => null,
            (err: Error & { code?: string }) => err,
          );
          if (e) {
            expect(e.message.split('\n')).toHaveLength(1);
            limited.push(rel);
          }
          continue;
        }
        const img = await svc.image(id, rel, 'thumb');
        expect(fs.statSync(img.file).size).toBeGreaterThan(0);
        served++;
      }
      let refused = 0;
      for (const rel of [...corpus.expectSkipped, ...extra.expectSkipped]) {
        const e = await svc.image(id, rel, 'thumb').then(
          () => null,
          (err: Error & { code?: string }) => err,
        );
        expect([rel, e?.code]).toEqual([rel, expect.stringMatching(/NOT_FOUND|FORBIDDEN|BAD_INPUT/)]);
        expect(e!.message.split('\n')).toHaveLength(1);
        refused++;
      }
      if (limited.length)
        console.log(
          `KNOWN LIMITATION: no thumbnail for real files named ${limited.map((x) => JSON.stringify(x)).join(', ')} (relPathProblem in src-shared/rel-path.ts refuses backslash / %xx in names)`,
        );
      console.log(
        `bad files: ${served} thumbnails served, ${refused} bad files refused cleanly; test-process peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
      );
    } finally {
      await svc.dispose();
    }
  }, 240_000);

  it('exportCommand writes a complete export of the usable images and never touches the dataset', async () => {
    const prev = { d: process.env.MOPRO_DATA_DIR, c: process.env.MOPRO_CACHE_DIR };
    process.env.MOPRO_DATA_DIR = dataDir;
    process.env.MOPRO_CACHE_DIR = cache;
    const to = path.join(tmp, 'export');
    try {
      const { exportCommand } = await import('../../src-main/server/commands');
      // Source: the run folder the CLI test wrote, so the engine's verdict on undecodable files applies.
      const res = await exportCommand({ source: path.join(tmp, 'run'), to, mode: 'copy', includeOod: false });
      expect(fs.existsSync(path.join(to, INCOMPLETE_MARKER))).toBe(false);
      const labels = parseCsv(fs.readFileSync(path.join(to, 'labels.csv'), 'utf8'), LABELS_HEADER);
      const byPath = new Map(labels.map((l) => [l.path, l]));
      // A bad file is never exported into a class folder: no row, or a row with no final label (OOD, not copied).
      for (const rel of [...corpus.expectSkipped, ...extra.expectSkipped])
        expect([rel, byPath.get(rel)?.final_label ?? '']).toEqual([rel, '']);
      expect(labels.filter((l) => l.original_label === extra.manyClass).length).toBe(MANY);
      const copied = fs
        .readdirSync(to, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile() && d.name !== 'labels.csv').length;
      expect(copied).toBe(labels.filter((l) => l.final_label !== '').length);
      expect(res.files).toBe(copied);
      console.log(`bad files: export wrote ${res.files} files`);
    } finally {
      process.env.MOPRO_DATA_DIR = prev.d;
      process.env.MOPRO_CACHE_DIR = prev.c;
      if (prev.d === undefined) delete process.env.MOPRO_DATA_DIR;
      if (prev.c === undefined) delete process.env.MOPRO_CACHE_DIR;
    }
    const after = snapshot(corpus.root);
    const changed = [...before].filter(([k, v]) => after.get(k) !== v).map(([k]) => k);
    const added = [...after.keys()].filter((k) => !before.has(k));
    expect({ changed, added }).toEqual({ changed: [], added: [] });
    console.log(
      `bad-files-end-to-end summary: files tried ${tally.files}, skipped with a named reason ${tally.skippedNamed}, crashes 0, dataset entries changed 0 of ${before.size}`,
    );
  }, 240_000);
});
