// Run status through a stop and a resume with the real engine on a tiny folder: the resumed run
// keeps its epoch counts (not "0/3 epochs" while it trains epoch 2), and every progress event
// names the real epoch total (never "epoch 1/0").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent, MethodResults, ProjectSummary } from '../../src-shared/contract';
import { openServiceFixture, type ServiceFixture } from '../../tests/fixtures/service';

let fx: ServiceFixture;
beforeAll(async () => {
  fx = await openServiceFixture('mopro-svc-resume-');
});
afterAll(() => fx?.close());

describe('service: run status across stop and resume', () => {
  it('keeps epochsDone and the epoch total after a resume', async () => {
    const { svc, prj, events, until, finished } = fx;
    const { runId } = (await svc.call('train.start', {
      projectId: prj.id,
      config: { epochs: 3, batchSize: 8, imageSize: 8, backend: 'cpu', seed: 1 },
    })) as MethodResults['train.start'];
    await until(() => events.some((e) => e.type === 'train.epoch' && e.runId === runId));
    await svc.call('train.stop', { runId });
    await finished(runId);
    const stopped = (await svc.call('runs.get', { runId })) as MethodResults['runs.get'];
    expect(stopped.summary.state).toBe('stopped');
    const doneBefore = stopped.summary.epochsDone;
    expect(doneBefore).toBeGreaterThanOrEqual(1);
    expect(doneBefore).toBeLessThan(3);

    const from = events.length;
    await svc.call('train.resume', { runId });
    const running = (await svc.call('runs.get', { runId })) as MethodResults['runs.get'];
    expect(running.summary).toMatchObject({ state: 'running', epochsDone: doneBefore, epochsTotal: 3 });
    await finished(runId, from);
    const progress = events
      .slice(from)
      .filter((e): e is Extract<ApiEvent, { type: 'train.progress' }> => e.type === 'train.progress');
    expect(progress.length).toBeGreaterThan(0);
    for (const e of progress) expect(e.epochs).toBe(3);
    const s = (await svc.call('projects.get', { projectId: prj.id })) as ProjectSummary;
    expect(s.runs.find((r) => r.id === runId)).toMatchObject({ state: 'done', epochsDone: 3, epochsTotal: 3 });
  }, 200_000);
});
