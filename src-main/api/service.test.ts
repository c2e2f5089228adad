import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent, MethodResults, ProjectSummary } from '../../src-shared/contract';
import { ApiError, type ApiService } from './service-types';
import { createService } from './service';
import { listScanner, makeDataset, syntheticRows, writeProjectRun } from '../../tests/fixtures/project';
import { projectIdFor } from '../project/project';

let base: string, root: string, svc: ApiService, prj: ProjectSummary;
const events: ApiEvent[] = [];
const classes = ['a', 'b'];

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-service-'));
  root = path.join(base, 'ds');
  const files = await makeDataset(root, classes, 6);
  const dataDir = path.join(base, 'data');
  writeProjectRun(dataDir, projectIdFor(root), 'r1', root, classes, syntheticRows(files, classes, 5));
  svc = createService({ mode: 'browser', dataDir, cacheDir: path.join(base, 'cache'), emit: (e) => events.push(e) });
  prj = (await svc.call('projects.open', { path: root })) as ProjectSummary;
});
afterAll(async () => {
  await svc.dispose();
  fs.rmSync(base, { recursive: true, force: true });
});

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'OK';
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return (e as ApiError).code;
  }
};

describe('api service', () => {
  it('validates every input and maps failures to ApiError codes', async () => {
    expect(await code(svc.call('no.such', {}))).toBe('NOT_FOUND');
    expect(await code(svc.call('__proto__', {}))).toBe('NOT_FOUND');
    expect(await code(svc.call('projects.open', {}))).toBe('BAD_INPUT');
    expect(await code(svc.call('projects.open', { path: 'relative/dir' }))).toBe('BAD_INPUT');
    expect(await code(svc.call('projects.open', { path: path.join(base, 'nope') }))).toBe('BAD_INPUT');
    expect(await code(svc.call('samples.query', { projectId: prj.id, limit: 100000 }))).toBe('BAD_INPUT');
    expect(await code(svc.call('samples.get', { projectId: prj.id, id: -1 }))).toBe('BAD_INPUT');
    expect(await code(svc.call('samples.get', { projectId: prj.id, id: 999 }))).toBe('NOT_FOUND');
    expect(await code(svc.call('decisions.apply', { projectId: prj.id, ids: [0], action: { kind: 'nope' } }))).toBe(
      'BAD_INPUT',
    );
    expect(await code(svc.call('decisions.apply', { projectId: prj.id, ids: [], action: { kind: 'accept' } }))).toBe(
      'BAD_INPUT',
    );
    expect(await code(svc.call('projects.get', { projectId: '../etc' }))).toBe('NOT_FOUND');
    expect(await code(svc.call('train.stop', { runId: 'r1' }))).toBe('NOT_FOUND');
    expect(await code(svc.call('projects.setActiveRun', { projectId: prj.id, runId: '../../x' }))).toBe('NOT_FOUND');
    const err = (await svc
      .call('samples.query', { projectId: prj.id, filter: { view: 'bogus' } })
      .catch((e: unknown) => e)) as ApiError;
    expect(err.message).toMatch(/filter\.view/);
  });

  it('opens with the run active and answers queries', async () => {
    expect(prj.activeRunId).toBe('r1');
    expect(prj.reconcile).toEqual({ added: 0, removed: 0, kept: 12 });
    const q = (await svc.call('samples.query', { projectId: prj.id, limit: 3 })) as MethodResults['samples.query'];
    expect(q.total).toBe(12);
    expect(q.rows.map((r) => r.path)).toEqual(['a/a_0000.png', 'a/a_0001.png', 'a/a_0002.png']);
    const recent = (await svc.call('projects.recent', {})) as MethodResults['projects.recent'];
    expect(recent[0].path).toBe(fs.realpathSync(root));
    const info = (await svc.call('app.info', {})) as MethodResults['app.info'];
    expect(info.mode).toBe('browser');
    const run = (await svc.call('runs.get', { runId: 'r1' })) as MethodResults['runs.get'];
    expect(run.summary).toMatchObject({ id: 'r1', state: 'done', method: 'mopro', backend: 'synthetic' });
  });

  it('apply / undo / redo report counts and emit decisions.changed', async () => {
    events.length = 0;
    const a = (await svc.call('decisions.apply', {
      projectId: prj.id,
      ids: [0, 1, 1, 2],
      action: { kind: 'ood' },
    })) as MethodResults['decisions.apply'];
    expect(a).toEqual({ applied: 3, reviewed: 3, canUndo: true, canRedo: false });
    const u = (await svc.call('decisions.undo', { projectId: prj.id })) as MethodResults['decisions.undo'];
    expect(u).toEqual({ undone: 3, reviewed: 0, canUndo: false, canRedo: true });
    const r = (await svc.call('decisions.redo', { projectId: prj.id })) as MethodResults['decisions.redo'];
    expect(r).toEqual({ redone: 3, reviewed: 3, canUndo: true, canRedo: false });
    expect(events.filter((e) => e.type === 'decisions.changed')).toHaveLength(3);
    const d = (await svc.call('samples.get', { projectId: prj.id, id: 1 })) as MethodResults['samples.get'];
    expect(d).toMatchObject({ finalLabel: null, source: 'ood', decision: { kind: 'ood' }, width: 8, height: 8 });
    expect(d.history.map((h) => h.action.kind)).toEqual(['ood', 'restore', 'ood']);
    const ids = (await svc.call('samples.ids', {
      projectId: prj.id,
      filter: { view: 'reviewed' },
    })) as MethodResults['samples.ids'];
    expect(ids.ids).toEqual([0, 1, 2]);
  });

  it('export.start refuses a bad target at once and reports the job through events', async () => {
    expect(await code(svc.call('export.start', { projectId: prj.id, to: path.join(root, 'a', 'out') }))).toBe(
      'BAD_INPUT',
    );
    expect(await code(svc.call('export.start', { projectId: prj.id, to: 'relative' }))).toBe('BAD_INPUT');
    events.length = 0;
    const to = path.join(base, 'export');
    const { jobId } = (await svc.call('export.start', {
      projectId: prj.id,
      to,
      mode: 'copy',
      includeOod: true,
    })) as MethodResults['export.start'];
    await vi_waitFor(() => events.some((e) => e.type === 'export.done'));
    expect(events.find((e) => e.type === 'export.done')).toMatchObject({
      type: 'export.done',
      jobId,
      ok: true,
      dir: to,
      summary: { mode: 'copy', manifestRows: 12 },
    });
    expect(fs.readdirSync(path.join(to, '_ood')).length).toBeGreaterThanOrEqual(3);
  });

  it('image(): serves dataset files and cached thumbnails, refuses everything else', async () => {
    const full = await svc.image(prj.id, 'a/a_0000.png', 'full');
    expect(full).toEqual({ file: fs.realpathSync(path.join(root, 'a/a_0000.png')), mime: 'image/png' });
    const th = await svc.image(prj.id, 'a/a_0000.png', 'thumb');
    expect(th.mime).toBe('image/webp');
    expect(th.file.startsWith(path.join(base, 'cache', 'thumbs'))).toBe(true);
    expect((await svc.image(prj.id, 'a/a_0000.png', 'thumb')).file).toBe(th.file); // cached
    const bad = [
      '../ds/a/a_0000.png',
      'a/../a/a_0000.png',
      '/etc/passwd',
      path.join(root, 'a/a_0000.png'),
      'a\\a_0000.png',
      '%2e%2e/etc/passwd',
      'a/%252e%252e/x',
      'C:/Windows/win.ini',
      'a//a_0000.png',
      './a/a_0000.png',
      'a/a_0000.png\0',
      '',
    ];
    for (const p of bad) expect([p, await code(svc.image(prj.id, p, 'full'))]).toEqual([p, 'FORBIDDEN']);
    expect(await code(svc.image(prj.id, 'a/not-there.png', 'full'))).toBe('NOT_FOUND');
    expect(await code(svc.image('nope', 'a/a_0000.png', 'full'))).toBe('NOT_FOUND');
  });

  it('image(): a symlink that leads out of the dataset is refused even when a scanner lists it', async () => {
    const r2 = path.join(base, 'ds2');
    fs.mkdirSync(path.join(r2, 'a'), { recursive: true });
    fs.writeFileSync(path.join(base, 'outside.png'), 'secret');
    fs.symlinkSync(path.join(base, 'outside.png'), path.join(r2, 'a', 'evil.png'));
    fs.symlinkSync(base, path.join(r2, 'a', 'up'));
    const files = [
      { rel: 'a/evil.png', label: 'a' },
      { rel: 'a/up/outside.png', label: 'a' },
    ];
    const s2 = createService({
      mode: 'browser',
      dataDir: path.join(base, 'data2'),
      cacheDir: path.join(base, 'cache2'),
      emit: () => {},
      scanner: listScanner(r2, ['a'], files),
    });
    const p2 = (await s2.call('projects.open', { path: r2 })) as ProjectSummary;
    for (const f of files)
      for (const kind of ['full', 'thumb'] as const) expect(await code(s2.image(p2.id, f.rel, kind))).toBe('FORBIDDEN');
    await s2.dispose();
  });
});

async function vi_waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
