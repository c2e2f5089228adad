// The Train panel's "Start from: an earlier run" + "Freeze backbone" through the service: the new run starts
// from that run's encoder (--init) with the backbone frozen; an unknown run is refused before anything is written.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MethodResults, ProjectSummary } from '../../src-shared/contract';
import { openServiceFixture, type ServiceFixture } from '../../tests/fixtures/service';

let fx: ServiceFixture;
beforeAll(async () => {
  fx = await openServiceFixture('mopro-svc-from-');
});
afterAll(() => fx?.close());

describe('service: start from an earlier run, backbone frozen', () => {
  it('passes initRun as --init and freezeBackbone through; refuses an unknown run', async () => {
    const { svc, prj, finished } = fx;
    const cfg = { epochs: 1, batchSize: 8, imageSize: 8, backend: 'cpu' as const, seed: 1 };
    await expect(
      svc.call('train.start', { projectId: prj.id, config: { ...cfg, initRun: 'no-such-run', freezeBackbone: true } }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const first = (await svc.call('train.start', { projectId: prj.id, config: cfg })) as MethodResults['train.start'];
    expect(await finished(first.runId)).toMatchObject({ state: 'done' });
    const second = (await svc.call('train.start', {
      projectId: prj.id,
      config: { ...cfg, initRun: first.runId, freezeBackbone: true },
    })) as MethodResults['train.start'];
    expect(await finished(second.runId)).toMatchObject({ state: 'done' });
    const s = (await svc.call('projects.get', { projectId: prj.id })) as ProjectSummary;
    expect(s.runs.filter((r) => r.id !== first.runId && r.id !== second.runId)).toEqual([]);
    const run = JSON.parse(
      fs.readFileSync(path.join(s.runs.find((r) => r.id === second.runId)!.dir, 'run.json'), 'utf8'),
    );
    expect(run.init.run).toBe(s.runs.find((r) => r.id === first.runId)!.dir);
    expect(run.config.freezeBackbone).toBe(true);
    expect(run.frozenBackbone).toMatchObject({ views: ['image', 'mirror'] });
  });
});
