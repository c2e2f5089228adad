// insights.* through the real service (zod validation, defaults, error codes), as IPC and HTTP see it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent, MethodResult } from '../../src-shared/contract';
import { createService } from './service';
import type { ApiService } from './service-types';
import { makeInsightsFixture, type InsightsFixture } from '../../tests/fixtures/insights';

let tmp: string;
let fx: InsightsFixture;
let svc: ApiService;
const events: ApiEvent[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-insights-svc-'));
  fx = await makeInsightsFixture(tmp, { perClass: 12 });
  svc = createService({
    mode: 'browser',
    dataDir: fx.dataDir,
    cacheDir: path.join(tmp, 'cache'),
    emit: (e) => events.push(e),
  });
  await svc.call('projects.open', { path: fx.root });
});
afterAll(async () => {
  await svc?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('insights via the service', () => {
  it('applies the schema defaults (PCA, threshold 0.98)', async () => {
    const m = (await svc.call('insights.embedding', { projectId: fx.projectId })) as MethodResult<'insights.embedding'>;
    expect(m.method).toBe('pca');
    expect(m.n).toBe(fx.n);
    const d = (await svc.call('insights.duplicates', {
      projectId: fx.projectId,
    })) as MethodResult<'insights.duplicates'>;
    expect(d.threshold).toBe(0.98);
    expect(d.pairs.map((p) => [p.a.path, p.b.path].sort())).toEqual([[fx.dup.a, fx.dup.b].sort()]);
  });

  it('rejects bad input and unknown runs with their codes', async () => {
    await expect(svc.call('insights.duplicates', { projectId: fx.projectId, threshold: 2 })).rejects.toMatchObject({
      code: 'BAD_INPUT',
    });
    await expect(svc.call('insights.embedding', { projectId: fx.projectId, method: 'tsne' })).rejects.toMatchObject({
      code: 'BAD_INPUT',
    });
    await expect(
      svc.call('insights.compareRuns', { projectId: fx.projectId, runA: fx.runs.ce, runB: 'nope' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('compareRuns and classHealth answer for a known project', async () => {
    const c = (await svc.call('insights.compareRuns', {
      projectId: fx.projectId,
      runA: fx.runs.ce,
      runB: fx.runs.mopro,
    })) as MethodResult<'insights.compareRuns'>;
    expect(c.deltas.length).toBe(fx.classes.length);
    const h = (await svc.call('insights.classHealth', {
      projectId: fx.projectId,
    })) as MethodResult<'insights.classHealth'>;
    expect(h.classes.reduce((a, r) => a + r.count, 0)).toBe(fx.n);
  });
});
