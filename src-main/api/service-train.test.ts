// train.start / runs.get / train.done through the service with the real engine (worker thread),
// on a tiny generated folder: the run lands in the project's runs folder and becomes active.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MethodResults, ProjectSummary } from '../../src-shared/contract';
import { openServiceFixture, type ServiceFixture } from '../../tests/fixtures/service';

let fx: ServiceFixture;
beforeAll(async () => {
  fx = await openServiceFixture('mopro-svc-train-');
});
afterAll(() => fx?.close());

describe('service: training through the engine', () => {
  it('trains a short run with decisions, emits progress, activates the finished run', async () => {
    const { svc, prj, events, finished } = fx;
    await svc.call('decisions.apply', { projectId: prj.id, ids: [0], action: { kind: 'override', label: 'b' } });
    await svc.call('decisions.apply', { projectId: prj.id, ids: [1], action: { kind: 'ood' } });
    const { runId } = (await svc.call('train.start', {
      projectId: prj.id,
      config: { epochs: 1, batchSize: 8, imageSize: 8, backend: 'cpu', useDecisions: true, seed: 1 },
    })) as MethodResults['train.start'];
    await expect(svc.call('train.start', { projectId: prj.id, config: { epochs: 1 } })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const running = (await svc.call('runs.get', { runId })) as MethodResults['runs.get'];
    expect(running.summary.state).toBe('running');
    expect(await finished(runId)).toMatchObject({ type: 'train.done', runId, state: 'done' });
    expect(events.filter((e) => e.type === 'train.done')).toHaveLength(1); // the refused start ran nothing
    expect(events.some((e) => e.type === 'train.progress' && e.phase === 'train')).toBe(true);
    expect(events.some((e) => e.type === 'train.epoch')).toBe(true);
    const s = (await svc.call('projects.get', { projectId: prj.id })) as ProjectSummary;
    expect(s.activeRunId).toBe(runId);
    expect(s.runs.find((r) => r.id === runId)).toMatchObject({ state: 'done', epochsDone: 1 });
    const q = (await svc.call('samples.query', { projectId: prj.id, limit: 50 })) as MethodResults['samples.query'];
    expect(q.total).toBe(24);
    expect(q.rows[0]).toMatchObject({ decision: { kind: 'override', label: 'b' }, finalLabel: 'b' });
    expect(q.rows[1]).toMatchObject({ decision: { kind: 'ood' }, finalLabel: null });
    expect(
      JSON.parse(fs.readFileSync(path.join(s.runs.find((r) => r.id === runId)!.dir, 'decisions.json'), 'utf8')),
    ).toEqual({ fixedLabels: { 'a/a_0000.png': 'b' }, excluded: ['a/a_0001.png'] });
    const d = (await svc.call('samples.get', { projectId: prj.id, id: 5 })) as MethodResults['samples.get'];
    expect(d.classScores.map((c) => c.label).sort()).toEqual(['a', 'b']);
  });

  it('"Two CPU cores" (threads 2) trains on two wasm replicas (run.json says so)', async () => {
    const { svc, prj, finished } = fx;
    const { runId } = (await svc.call('train.start', {
      projectId: prj.id,
      config: { epochs: 1, batchSize: 8, imageSize: 8, backend: 'wasm', threads: 2, seed: 1 },
    })) as MethodResults['train.start'];
    expect(await finished(runId)).toMatchObject({ type: 'train.done', runId, state: 'done' });
    const s = (await svc.call('projects.get', { projectId: prj.id })) as ProjectSummary;
    const run = JSON.parse(fs.readFileSync(path.join(s.runs.find((r) => r.id === runId)!.dir, 'run.json'), 'utf8'));
    expect(run.adaptations.some((a: string) => a.startsWith('2 data-parallel replicas'))).toBe(true);
  });
});
