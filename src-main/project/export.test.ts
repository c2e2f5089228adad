import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTarget, exportDataset, INCOMPLETE_MARKER, type ExportOptions } from './export';
import type { ExportRow } from './project';
import { makeDataset } from '../../tests/fixtures/project';
import { parseCsv } from '../util/csv';

let base: string, root: string, rows: ExportRow[];
const isRoot = process.getuid?.() === 0;
const canMount = (() => {
  if (!isRoot || process.platform !== 'linux') return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-mountcheck-'));
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', dir]).status === 0;
  if (ok) spawnSync('umount', [dir]);
  fs.rmdirSync(dir);
  return ok;
})();
const snapshot = (dir: string): string[] =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map(
      (d) =>
        `${path.relative(dir, path.join(d.parentPath, d.name))}:${d.isFile() ? fs.statSync(path.join(d.parentPath, d.name)).size : 'dir'}`,
    )
    .sort();

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-export-'));
  root = path.join(base, 'ds');
  const files = await makeDataset(root, ['a', 'b'], 3);
  // a name clash: two files called same.png end up in the same final class
  fs.mkdirSync(path.join(root, 'b', 'sub'));
  fs.copyFileSync(path.join(root, files[0].rel), path.join(root, 'b', 'sub', 'a_0000.png'));
  rows = [
    { rel: 'a/a_0000.png', abs: path.join(root, 'a/a_0000.png'), given: 'a', finalLabel: 'a', source: 'model' },
    { rel: 'a/a_0001.png', abs: path.join(root, 'a/a_0001.png'), given: 'a', finalLabel: 'b', source: 'accepted' },
    { rel: 'a/a_0002.png', abs: path.join(root, 'a/a_0002.png'), given: 'a', finalLabel: null, source: 'ood' },
    { rel: 'b/b_0000.png', abs: path.join(root, 'b/b_0000.png'), given: 'b', finalLabel: 'a', source: 'overridden' },
    { rel: 'b/b_0001.png', abs: path.join(root, 'b/b_0001.png'), given: 'b', finalLabel: 'b', source: 'kept' },
    { rel: 'b/sub/a_0000.png', abs: path.join(root, 'b/sub/a_0000.png'), given: 'b', finalLabel: 'a', source: 'model' },
    {
      rel: 'b/b_0002.png',
      abs: path.join(root, 'b/b_0002.png'),
      given: 'b',
      finalLabel: 'x,"y"',
      source: 'overridden',
    },
  ];
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const opts = (to: string, o: Partial<ExportOptions> = {}): ExportOptions => ({
  rows,
  datasetRoot: root,
  to,
  mode: 'copy',
  includeOod: false,
  ...o,
});

describe('export', () => {
  it('copy: <dir>/<final label>/<file>, clashes renamed, OOD left out, labels.csv, dataset untouched', async () => {
    const before = snapshot(root);
    const to = path.join(base, 'out-copy');
    const progress: number[] = [];
    const r = await exportDataset(opts(to, { onProgress: (d) => progress.push(d) }));
    expect(r.files).toBe(6);
    expect(fs.readdirSync(path.join(to, 'a')).sort()).toEqual(['a_0000-2.png', 'a_0000.png', 'b_0000.png']);
    expect(fs.readdirSync(path.join(to, 'b')).sort()).toEqual(['a_0001.png', 'b_0001.png']);
    expect(fs.existsSync(path.join(to, 'x,_y_'))).toBe(true);
    expect(fs.existsSync(path.join(to, '_ood'))).toBe(false);
    expect(fs.existsSync(path.join(to, INCOMPLETE_MARKER))).toBe(false);
    const csv = parseCsv(fs.readFileSync(path.join(to, 'labels.csv'), 'utf8'), [
      'path',
      'original_label',
      'final_label',
      'source',
    ]);
    expect(csv).toHaveLength(7);
    expect(csv[2]).toEqual({ path: 'a/a_0002.png', original_label: 'a', final_label: '', source: 'ood' });
    expect(csv[6].final_label).toBe('x,"y"');
    expect(progress.at(-1)).toBe(6);
    expect(snapshot(root)).toEqual(before);
    expect(fs.readFileSync(path.join(to, 'a', 'b_0000.png'))).toEqual(fs.readFileSync(path.join(root, 'b/b_0000.png')));
  });

  it('hardlink with OOD: files share the inode, OOD images in _ood/', async () => {
    const to = path.join(base, 'out-link');
    const r = await exportDataset(opts(to, { mode: 'hardlink', includeOod: true }));
    expect(r.ood).toBe(1);
    expect(fs.readdirSync(path.join(to, '_ood'))).toEqual(['a_0002.png']);
    expect(fs.statSync(path.join(to, 'b', 'b_0001.png')).ino).toBe(fs.statSync(path.join(root, 'b/b_0001.png')).ino);
  });

  it('manifest: only labels.csv', async () => {
    const to = path.join(base, 'out-manifest');
    await exportDataset(opts(to, { mode: 'manifest' }));
    expect(fs.readdirSync(to)).toEqual(['labels.csv']);
  });

  it('refuses a non-empty target, the dataset itself, a folder inside it, a folder holding it, and a file', async () => {
    const full = path.join(base, 'full');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'keep.txt'), 'mine');
    await expect(exportDataset(opts(full))).rejects.toThrow(/not empty.*choose a new or empty folder/);
    expect(fs.readdirSync(full)).toEqual(['keep.txt']);
    expect(() => checkTarget(root, root)).toThrow(/inside the dataset/);
    expect(() => checkTarget(path.join(root, 'a', 'new'), root)).toThrow(/inside the dataset/);
    expect(() => checkTarget(base, root)).toThrow(/contains the dataset|not empty/);
    const link = path.join(base, 'link-to-ds');
    fs.symlinkSync(root, link);
    expect(() => checkTarget(path.join(link, 'x'), root)).toThrow(/inside the dataset/);
    expect(() => checkTarget(path.join(base, 'full', 'keep.txt'), root)).toThrow(/is a file/);
  });

  // root ignores permission bits; the read-only tmpfs test below covers that case there.
  it.skipIf(isRoot)('an unwritable target gives a clear error (skipped as root: permissions do not bind)', async () => {
    const ro = path.join(base, 'ro');
    fs.mkdirSync(ro);
    fs.chmodSync(ro, 0o500);
    await expect(exportDataset(opts(path.join(ro, 'out')))).rejects.toThrow(/cannot be created or written/);
    fs.chmodSync(ro, 0o700);
  });

  it('an interrupted export is marked incomplete, never silently partial', async () => {
    const to = path.join(base, 'out-abort');
    const ac = new AbortController();
    const p = exportDataset(
      opts(to, {
        signal: ac.signal,
        onProgress: (d) => {
          if (d === 0) ac.abort();
        },
      }),
    );
    await expect(p).rejects.toThrow(/cancelled/);
    expect(fs.existsSync(path.join(to, INCOMPLETE_MARKER))).toBe(true);
    expect(fs.existsSync(path.join(to, 'labels.csv'))).toBe(false);
  });

  it('a missing source file stops the export with a message naming it (target marked incomplete)', async () => {
    const to = path.join(base, 'out-missing');
    const bad = [
      ...rows,
      { rel: 'a/gone.png', abs: path.join(root, 'a/gone.png'), given: 'a', finalLabel: 'a', source: 'model' },
    ];
    await expect(exportDataset(opts(to, { rows: bad }))).rejects.toThrow(/gone\.png vanished/);
    expect(fs.existsSync(path.join(to, INCOMPLETE_MARKER))).toBe(true);
  });

  // Full and read-only disks need a small file system of their own: a tmpfs mount (root only).
  const withTmpfs = async (opt: string, fn: (dir: string) => Promise<void>): Promise<void> => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-tmpfs-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', opt, 'tmpfs', dir], { encoding: 'utf8' });
    if (m.status !== 0) {
      fs.rmdirSync(dir);
      throw new Error(`mount failed: ${m.stderr}`);
    }
    try {
      await fn(dir);
    } finally {
      spawnSync('umount', [dir]);
      fs.rmdirSync(dir);
    }
  };
  if (!canMount)
    console.log('full-disk and read-only export tests NOT RUN: mounting a small tmpfs needs root (counted as skipped)');

  it.skipIf(!canMount)('a full disk gives a clear error and the target stays marked incomplete', async () => {
    const big = path.join(base, 'big.png');
    fs.writeFileSync(big, Buffer.alloc(200 * 1024, 7));
    const bigRows: ExportRow[] = Array.from({ length: 4 }, (_, i) => ({
      rel: `a/big${i}.png`,
      abs: big,
      given: 'a',
      finalLabel: 'a',
      source: 'model',
    }));
    await withTmpfs('size=512k', async (dir) => {
      const to = path.join(dir, 'out');
      await expect(exportDataset(opts(to, { rows: bigRows }))).rejects.toThrow(/disk full \(ENOSPC\).*free space/);
      expect(fs.existsSync(path.join(to, INCOMPLETE_MARKER))).toBe(true);
    });
  });

  it.skipIf(!canMount)('a read-only target gives a clear error', async () => {
    await withTmpfs('ro,size=64k', async (dir) => {
      await expect(exportDataset(opts(path.join(dir, 'out')))).rejects.toThrow(
        /cannot be created or written.*choose a folder you can write to/,
      );
    });
  });
});
