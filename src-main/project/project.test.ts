import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Project, projectIdFor } from './project';
import { makeDataset, syntheticRows, writeProjectRun, writeRun } from '../../tests/fixtures/project';

let base: string, root: string, dataDir: string;
const classes = ['cat', 'dog', 'fox'];
let files: { rel: string; label: string }[];

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-project-'));
  root = path.join(base, 'ds');
  dataDir = path.join(base, 'data');
  files = await makeDataset(root, classes, 10);
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('project', () => {
  it('opens a dataset without runs: folder labels, no reconcile, decisions still possible', async () => {
    const p = await Project.open(root, dataDir);
    expect(p.id).toBe(projectIdFor(root));
    const s = p.summary();
    expect(s.imageCount).toBe(30);
    expect(s.runs).toEqual([]);
    expect(s.activeRunId).toBeNull();
    expect(p.query.page({ view: 'all' }, { key: 'path', dir: 'asc' }, 0, 5).rows[0]).toMatchObject({
      path: 'cat/cat_0000.png',
      given: 'cat',
      finalLabel: 'cat',
      source: 'given',
    });
    p.close();
    expect(fs.existsSync(path.join(dataDir, 'projects', p.id, 'journal.jsonl'))).toBe(true);
    expect(fs.readdirSync(root).sort()).toEqual(classes); // nothing written into the dataset
  });

  it('loads the newest run, applies decisions (human wins) and keeps them across reopen', async () => {
    const rows = syntheticRows(files, classes, 7);
    const id = projectIdFor(root);
    writeProjectRun(dataDir, id, 'run-a', root, classes, rows);
    const p = await Project.open(root, dataDir);
    expect(p.activeRun?.id).toBe('run-a');
    expect(p.reconcile).toEqual({ added: 0, removed: 0, kept: 30 });
    const relabeled = rows.findIndex((r) => r.status === 'relabeled');
    const ood = rows.findIndex((r) => r.status === 'ood');
    const clean = rows.findIndex((r) => r.status === 'clean');
    expect(p.detail(relabeled)).toMatchObject({ finalLabel: rows[relabeled].corrected, source: 'model' });
    p.apply([relabeled], { kind: 'keep' });
    p.apply([ood], { kind: 'accept' });
    p.apply([clean], { kind: 'override', label: 'wolf' });
    expect(p.detail(relabeled)).toMatchObject({ finalLabel: rows[relabeled].given, source: 'kept' });
    expect(p.detail(ood)).toMatchObject({ finalLabel: null, source: 'ood' });
    const d = p.detail(clean);
    expect(d).toMatchObject({ finalLabel: 'wolf', source: 'overridden' });
    expect(d.classScores[0]).toEqual({ label: rows[clean].corrected, score: expect.closeTo(0.9, 5) });
    expect(d.history).toHaveLength(1);
    const t = p.decisionsForTraining();
    expect(t.excluded).toEqual([rows[ood].path]);
    expect(t.fixedLabels[rows[clean].path]).toBe('wolf');
    p.close();
    const q = await Project.open(root, dataDir);
    expect(q.summary().reviewed).toBe(3);
    expect(q.detail(clean).finalLabel).toBe('wolf');
    q.close();
  });

  it('reconciles with the disk: removed, added and renamed files; decisions of files still there are kept', async () => {
    const p0 = await Project.open(root, dataDir);
    const decided = p0.query.ids({ view: 'reviewed' }, { key: 'path', dir: 'asc' });
    const decidedPaths = Array.from(decided, (i) => p0.table.paths[i]);
    p0.close();
    // remove one undecided file, rename another undecided one, add a new one
    const undecided = files.map((f) => f.rel).filter((r) => !decidedPaths.includes(r));
    fs.rmSync(path.join(root, undecided[0]));
    fs.renameSync(path.join(root, undecided[1]), path.join(root, 'dog', 'renamed.png'));
    fs.copyFileSync(path.join(root, undecided[2]), path.join(root, 'fox', 'new.png'));
    const p = await Project.open(root, dataDir);
    expect(p.reconcile).toEqual({ added: 2, removed: 2, kept: 28 });
    expect(p.summary().reviewed).toBe(3);
    const all = Array.from(p.query.ids({ view: 'all' }, { key: 'path', dir: 'asc' }), (i) => p.table.paths[i]);
    expect(all.length).toBe(30); // 28 kept + 2 new files (folder label, no model opinion); missing ones hidden
    expect(all).toContain('fox/new.png');
    expect(all).not.toContain(undecided[0]);
    const exported = p.exportRows().map((r) => r.rel);
    expect(exported).not.toContain(undecided[0]);
    expect(exported).toContain('dog/renamed.png');
    const fresh = p.detail(p.table.paths.indexOf('fox/new.png'));
    expect(fresh).toMatchObject({ given: 'fox', finalLabel: 'fox', source: 'given', classScores: [] }); // no model opinion on a new file
    p.close();
  });

  it('a decided file that is renamed or moved keeps its decision (same size and mtime, unique match)', async () => {
    const when = new Date('2024-05-06T07:08:09.123Z'); // tiny fixture PNGs share sizes: give this one its own mtime
    fs.utimesSync(path.join(root, 'cat/cat_0009.png'), when, when);
    const p0 = await Project.open(root, dataDir);
    const id = p0.table.paths.indexOf('cat/cat_0009.png');
    p0.apply([id], { kind: 'override', label: 'lynx' });
    const reviewedBefore = p0.summary().reviewed;
    p0.close();
    fs.renameSync(path.join(root, 'cat/cat_0009.png'), path.join(root, 'fox/moved-cat.png'));
    const p = await Project.open(root, dataDir);
    expect(p.renamed).toBe(1);
    const row = p.table.paths.indexOf('fox/moved-cat.png');
    expect(p.detail(row)).toMatchObject({
      decision: { kind: 'override', label: 'lynx' },
      finalLabel: 'lynx',
      source: 'overridden',
    });
    expect(p.summary().reviewed).toBe(reviewedBefore);
    expect(p.decisionsForTraining().fixedLabels['fox/moved-cat.png']).toBe('lynx');
    // undo of the original batch follows the file too
    p.undo();
    expect(p.detail(row).decision).toBeNull();
    p.redo();
    expect(p.detail(row).finalLabel).toBe('lynx');
    // its own decision wins over the carried one
    p.apply([row], { kind: 'keep' });
    expect(p.detail(row)).toMatchObject({ finalLabel: 'fox', source: 'kept' });
    p.close();
  });

  it('opens a run folder given by path (outside the project) and makes it active', async () => {
    const ext = path.join(base, 'elsewhere', 'my-run');
    const rows = syntheticRows(files.slice(0, 5), classes, 3);
    writeRun(ext, root, classes, rows);
    const p = await Project.open(ext, dataDir);
    expect(p.root).toBe(fs.realpathSync(root));
    expect(p.activeRun?.dir).toBe(ext);
    expect(p.summary().runs.map((r) => r.id)).toContain(p.activeRun!.id);
    p.close();
  });

  it('rejects a bad samples.csv with a one-line error naming the file', async () => {
    const id = projectIdFor(root);
    const dir = path.join(dataDir, 'projects', id, 'runs', 'zz-bad');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'samples.csv'), 'path,given_label\nx,y\n');
    const metaFile = path.join(dataDir, 'projects', id, 'project.json');
    fs.writeFileSync(
      metaFile,
      JSON.stringify({ ...JSON.parse(fs.readFileSync(metaFile, 'utf8')), activeRunId: 'zz-bad' }),
    );
    const p = await Project.open(root, dataDir); // a broken run does not lock the project
    expect(p.warnings.join('\n')).toMatch(/zz-bad[\\/]samples\.csv: missing column "corrected_label"/);
    expect(p.activeRun?.id).not.toBe('zz-bad');
    expect(() => p.loadRun('zz-bad')).toThrow(/samples\.csv: missing column "corrected_label"/);
    p.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('reads an RFC 4180 samples.csv (quoted names with commas and quotes) as well as the plain fast path', async () => {
    const r2 = path.join(base, 'ds-quoted');
    fs.mkdirSync(path.join(r2, 'a'), { recursive: true });
    fs.mkdirSync(path.join(r2, 'b'), { recursive: true });
    const names = [
      { rel: 'a/x,"y".png', label: 'a' },
      { rel: 'a/plain.png', label: 'a' },
      { rel: 'b/new\nline.png', label: 'b' },
    ];
    for (const n of names) fs.copyFileSync(path.join(root, files[0].rel), path.join(r2, n.rel));
    const rows = syntheticRows(names, ['a', 'b'], 11);
    writeProjectRun(dataDir, projectIdFor(r2), 'q1', r2, ['a', 'b'], rows);
    const p = await Project.open(r2, dataDir);
    expect(p.table.paths).toEqual(names.map((n) => n.rel));
    expect(p.reconcile).toEqual({ added: 0, removed: 0, kept: 3 });
    expect(p.detail(0).given).toBe('a');
    p.close();
  });
});
