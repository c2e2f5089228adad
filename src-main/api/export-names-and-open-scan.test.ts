// Export folder names that cannot collide (the manifest, the OOD folder, two labels with one safe
// name: refused before anything is written), and the API's open-folder scan: progress events,
// cancel through projects.cancelOpen, system folders refused, export refusals answered at once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkExportNames, exportDataset, ExportError } from '../project/export';
import type { ExportRow } from '../project/project';
import { makeDataset, syntheticRows, writeProjectRun } from '../../tests/fixtures/project';
import { projectIdFor } from '../project/project';
import { datasetIdentity } from '../engine/train/dataset-identity';
import { createService } from './service';
import { ApiError, type ApiService } from './service-types';
import type { ApiEvent, ProjectSummary } from '../../src-shared/contract';

let base: string;
beforeAll(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-names-'));
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const row = (rel: string, finalLabel: string | null): ExportRow => ({
  rel,
  abs: path.join(base, 'ds', rel),
  given: rel.split('/')[0]!,
  finalLabel,
  source: 'model',
});

describe('export folder names', () => {
  const refusal = (rows: ExportRow[], mode: 'copy' | 'manifest' = 'copy', ood = false): string => {
    try {
      checkExportNames(rows, mode, ood);
    } catch (e) {
      expect(e).toBeInstanceOf(ExportError);
      return (e as Error).message;
    }
    return 'OK';
  };
  it('a class named like the manifest (any case), _ood with --ood, two labels sharing a folder: refused; manifest mode has no folders', () => {
    expect(refusal([row('a/1.png', 'a'), row('l/1.png', 'labels.csv')])).toMatch(
      /class 'labels\.csv' .* the manifest's name.*nothing was written/,
    );
    expect(refusal([row('l/1.png', 'Labels.CSV')])).toMatch(/manifest's name/);
    expect(refusal([row('o/1.png', '_ood'), row('a/1.png', null)], 'copy', true)).toMatch(
      /class '_ood' would merge with the folder of out-of-distribution images/,
    );
    expect(refusal([row('o/1.png', '_ood'), row('a/1.png', null)], 'copy', false)).toBe('OK');
    expect(refusal([row('x/1.png', 'a:b'), row('y/1.png', 'a_b')])).toMatch(
      /classes 'a:b' and 'a_b' would share the export folder 'a_b'/,
    );
    expect(refusal([row('l/1.png', 'labels.csv'), row('o/1.png', '_ood')], 'manifest', true)).toBe('OK');
  });

  it('exportDataset refuses before creating the target', async () => {
    const ds = path.join(base, 'ds');
    const files = await makeDataset(ds, ['labels.csv', 'ok'], 2);
    const rows = files.map((f) => ({
      rel: f.rel,
      abs: path.join(ds, f.rel),
      given: f.rel.split('/')[0]!,
      finalLabel: f.rel.split('/')[0]!,
      source: 'model',
    }));
    const to = path.join(base, 'out');
    await expect(exportDataset({ rows, datasetRoot: ds, to, mode: 'copy', includeOod: false })).rejects.toThrow(
      /manifest's name/,
    );
    expect(fs.existsSync(to)).toBe(false);
  });
});

describe('API: open-folder scan', () => {
  let svc: ApiService;
  const events: ApiEvent[] = [];
  const code = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'OK';
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      return `${(e as ApiError).code}: ${(e as Error).message}`;
    }
  };
  beforeAll(() => {
    svc = createService({
      mode: 'browser',
      dataDir: path.join(base, 'data'),
      cacheDir: path.join(base, 'cache'),
      emit: (e) => events.push(e),
    });
  });
  afterAll(async () => {
    await svc.dispose();
  });

  it('reports scan progress, and projects.cancelOpen stops a scan in flight', async () => {
    const ds = path.join(base, 'wide');
    await makeDataset(ds, ['a', 'b'], 30);
    const opened = (await svc.call('projects.open', { path: ds })) as ProjectSummary;
    expect(opened.imageCount).toBe(60);
    const progress = events.filter((e) => e.type === 'scan.progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ type: 'scan.progress', projectId: opened.id, done: 60, total: 60 });

    const pending = svc.call('projects.open', { path: ds });
    expect(await svc.call('projects.cancelOpen', { path: ds })).toEqual({ cancelled: 1 });
    expect(await code(pending)).toMatch(/^BAD_INPUT: scan of .* cancelled/);
    expect(await svc.call('projects.cancelOpen', { path: ds })).toEqual({ cancelled: 0 }); // nothing in flight any more
  });

  it('refuses system folders with a clear message', async () => {
    expect(await code(svc.call('projects.open', { path: '/' }))).toMatch(
      /^BAD_INPUT: '\/' is the root of a file system or drive, not a dataset/,
    );
    if (process.platform === 'linux')
      expect(await code(svc.call('projects.open', { path: '/proc' }))).toMatch(
        /^BAD_INPUT: .*system folder \(\/proc\)/,
      );
  });

  it('train.resume refuses a run whose checkpoint was trained on other files, before starting the engine', async () => {
    const ds = path.join(base, 'ds3');
    const files = await makeDataset(ds, ['a', 'b'], 3);
    const dataDir = path.join(base, 'data');
    const dir = writeProjectRun(
      dataDir,
      projectIdFor(ds),
      'r-old',
      ds,
      ['a', 'b'],
      syntheticRows(files, ['a', 'b'], 1),
    );
    fs.mkdirSync(path.join(dir, 'checkpoint'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'checkpoint', 'checkpoint.json'),
      JSON.stringify({
        epoch: 1,
        dataset: datasetIdentity(
          ds,
          ['a', 'b'],
          files.slice(1).map((f, i) => ({ rel: f.rel, classIndex: i < 2 ? 0 : 1, bytes: 1 })),
        ),
      }),
    );
    await svc.call('projects.open', { path: ds });
    expect(await code(svc.call('train.resume', { runId: 'r-old' }))).toMatch(
      /^BAD_INPUT: --resume: the run in .*r-old was trained on .*ds3 \(5 images, .*has 6 images/,
    );
  });

  it('export.start answers a class named labels.csv with BAD_INPUT before any copy', async () => {
    const ds = path.join(base, 'ds2');
    await makeDataset(ds, ['labels.csv', 'ok'], 2);
    const p = (await svc.call('projects.open', { path: ds })) as ProjectSummary;
    const to = path.join(base, 'export-api');
    expect(await code(svc.call('export.start', { projectId: p.id, to }))).toMatch(/^BAD_INPUT: class 'labels\.csv'/);
    expect(fs.existsSync(to)).toBe(false);
  });
});
