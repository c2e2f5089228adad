// Export summary and the `given` / `duplicate` label sources; the pixel check of near duplicates;
// run names; runs.delete and runs.rename through the service.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset, summarizeExport } from '../project/export';
import type { ExportRow } from '../project/project';
import { makeDataset, syntheticRows, writeProjectRun } from '../../tests/fixtures/project';
import { finalOf } from '../project/table';
import { pixelDiff } from '../insights/duplicates';
import { generatedRunName } from '../project/runs';
import { createService } from './service';
import type { ProjectSummary } from '../../src-shared/contract';
import { parseCsv } from '../util/csv';

let base: string;
beforeAll(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-polish-'));
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('label sources', () => {
  it('no model opinion reads as the folder label (given), a duplicate is left out', () => {
    expect(finalOf('a', 'a', 'clean', null, false)).toEqual({ finalLabel: 'a', source: 'given' });
    expect(finalOf('a', 'b', 'relabeled', null)).toEqual({ finalLabel: 'b', source: 'model' });
    expect(finalOf('a', 'a', 'clean', { kind: 'duplicate', of: 'x.png' })).toEqual({
      finalLabel: null,
      source: 'duplicate',
    });
    // A decision still wins where the model has no opinion.
    expect(finalOf('a', 'a', 'clean', { kind: 'override', label: 'b' }, false)).toEqual({
      finalLabel: 'b',
      source: 'overridden',
    });
  });
});

describe('export summary', () => {
  it('counts per class, unreviewed guesses, OOD and duplicates; duplicates are copied nowhere', async () => {
    const root = path.join(base, 'ds');
    await makeDataset(root, ['a', 'b'], 3);
    const r = (rel: string, given: string, finalLabel: string | null, source: string): ExportRow => ({
      rel,
      abs: path.join(root, rel),
      given,
      finalLabel,
      source,
    });
    const rows = [
      r('a/a_0000.png', 'a', 'a', 'model'),
      r('a/a_0001.png', 'a', 'a', 'accepted'),
      r('a/a_0002.png', 'a', null, 'ood'),
      r('b/b_0000.png', 'b', 'a', 'model'),
      r('b/b_0001.png', 'b', null, 'duplicate'),
      r('b/b_0002.png', 'b', 'b', 'given'),
    ];
    const s = summarizeExport(rows, 'copy', true);
    expect(s.perClass).toEqual([
      { label: 'a', count: 3, unreviewed: 2 },
      { label: 'b', count: 1, unreviewed: 0 },
    ]);
    expect(s).toMatchObject({ files: 5, manifestRows: 6, ood: 1, oodWritten: 1, duplicates: 1 });
    expect(s.bySource).toMatchObject({ model: 2, accepted: 1, ood: 1, duplicate: 1, given: 1, kept: 0 });
    const to = path.join(base, 'out');
    const res = await exportDataset({ rows, datasetRoot: root, to, mode: 'copy', includeOod: true });
    expect(res.files).toBe(5);
    expect(res.summary).toEqual(s);
    expect(fs.readdirSync(path.join(to, '_ood'))).toEqual(['a_0002.png']);
    expect(fs.readdirSync(path.join(to, 'b'))).toEqual(['b_0002.png']);
    const csv = parseCsv(
      fs.readFileSync(path.join(to, 'labels.csv'), 'utf8'),
      ['path', 'original_label', 'final_label', 'source'],
      'labels.csv',
    );
    expect(csv.find((x) => x.path === 'b/b_0001.png')).toMatchObject({ final_label: '', source: 'duplicate' });
    expect(summarizeExport(rows, 'manifest', true)).toMatchObject({ files: 0, oodWritten: 0, manifestRows: 6 });
  });
});

describe('near-duplicate pixel check', () => {
  it('is the mean absolute grey difference', () => {
    expect(pixelDiff(Uint8Array.from([10, 20, 30, 40]), Uint8Array.from([10, 20, 30, 40]))).toBe(0);
    expect(pixelDiff(Uint8Array.from([10, 20, 30, 40]), Uint8Array.from([20, 10, 30, 48]))).toBe(7);
    expect(pixelDiff(Uint8Array.from([1]), Uint8Array.from([1, 2]))).toBe(255); // sizes differ: not comparable
  });
});

const req = createRequire(import.meta.url);
const installed = (p: string): boolean => {
  try {
    req.resolve(p);
    return true;
  } catch {
    return false;
  }
};
const tfInstalled = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');

describe('backends that do not load', () => {
  it.runIf(!tfInstalled)(
    'are not offered, and a run on one is refused before it starts (no failed run left behind)',
    async () => {
      const root = path.join(base, 'be-ds');
      await makeDataset(root, ['a', 'b'], 2);
      const dataDir = path.join(base, 'be-data');
      const svc = createService({
        mode: 'browser',
        dataDir,
        cacheDir: path.join(base, 'cache'),
        emit: () => undefined,
      });
      try {
        const info = (await svc.call('app.info', {})) as {
          backends: string[];
          unavailableBackends: { name: string; why: string }[];
        };
        expect(info.backends).not.toContain('tensorflow');
        expect(info.backends).toEqual(expect.arrayContaining(['auto', 'cpu']));
        expect(info.unavailableBackends.find((b) => b.name === 'tensorflow')?.why).toMatch(/not installed/);
        const p0 = (await svc.call('projects.open', { path: root })) as ProjectSummary;
        await expect(
          svc.call('train.start', { projectId: p0.id, config: { backend: 'tensorflow', epochs: 1 } }),
        ).rejects.toMatchObject({
          code: 'BAD_INPUT',
          message: expect.stringMatching(/tensorflow backend is not installed.*choose auto/),
        });
        expect(((await svc.call('projects.get', { projectId: p0.id })) as ProjectSummary).runs).toEqual([]);
      } finally {
        await svc.dispose();
      }
    },
  );
});

describe('runs: names, rename, delete', () => {
  it('names a run by method, epochs, preset and start time', () => {
    const when = new Date(2026, 11, 1, 15, 20).toISOString();
    expect(generatedRunName('mopro', 15, 'balanced', when)).toBe('MoPro · 15 epochs · Balanced · 2026-12-01 15:20');
    expect(generatedRunName('ce', 1, 'custom', when)).toBe('Cross-entropy · 1 epoch · 2026-12-01 15:20');
  });

  it('renames and deletes a run folder of the project, and refuses a missing one', async () => {
    const root = path.join(base, 'runs-ds');
    const files = await makeDataset(root, ['a', 'b'], 4);
    const dataDir = path.join(base, 'data');
    const svc = createService({ mode: 'browser', dataDir, cacheDir: path.join(base, 'cache'), emit: () => undefined });
    try {
      const p0 = (await svc.call('projects.open', { path: root })) as ProjectSummary;
      const rows = syntheticRows(files, ['a', 'b'], 2);
      const d1 = writeProjectRun(dataDir, p0.id, 'r1', root, ['a', 'b'], rows);
      const d2 = writeProjectRun(dataDir, p0.id, 'r2', root, ['a', 'b'], rows);
      await svc.call('projects.setActiveRun', { projectId: p0.id, runId: 'r2' });
      const renamed = (await svc.call('runs.rename', {
        projectId: p0.id,
        runId: 'r1',
        name: '  baseline  ',
      })) as ProjectSummary;
      expect(renamed.runs.find((r) => r.id === 'r1')).toMatchObject({ name: 'baseline', customName: 'baseline' });
      const back = (await svc.call('runs.rename', { projectId: p0.id, runId: 'r1', name: '' })) as ProjectSummary;
      expect(back.runs.find((r) => r.id === 'r1')?.name).toMatch(/^MoPro · 2 epochs · /);
      // Deleting the active run falls back to the other finished one.
      const after = (await svc.call('runs.delete', { projectId: p0.id, runId: 'r2' })) as ProjectSummary;
      expect(fs.existsSync(d2)).toBe(false);
      expect(after.runs.map((r) => r.id)).toEqual(['r1']);
      expect(after.activeRunId).toBe('r1');
      const none = (await svc.call('runs.delete', { projectId: p0.id, runId: 'r1' })) as ProjectSummary;
      expect(fs.existsSync(d1)).toBe(false);
      expect(none.activeRunId).toBeNull();
      await expect(svc.call('runs.delete', { projectId: p0.id, runId: 'r1' })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      expect(fs.readdirSync(root).sort()).toEqual(['a', 'b']); // the dataset is untouched
    } finally {
      await svc.dispose();
    }
  });
});
