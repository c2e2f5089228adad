// Run status through a stop and a resume with the real engine on a tiny folder: the resumed run
// keeps its epoch counts (not "0/3 epochs" while it trains epoch 2), and every progress event
// names the real epoch total (never "epoch 1/0").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent, MethodResults, ProjectSummary } from '../../src-shared/contract';
import type { ApiService } from './service-types';
import { createService } from './service';
import { makeDataset } from '../../tests/fixtures/project';

let base: string, svc: ApiService, prj: ProjectSummary;
const events: ApiEvent[] = [];
const until = async (ok: () => boolean, ms = 120_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out waiting for the engine');
    await new Promise((r) => setTimeout(r, 50));
  }
};

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-svc-resume-'));
  await makeDataset(path.join(base, 'ds'), ['a', 'b'], 12);
  svc = createService({
    mode: 'browser',
    dataDir: path.join(base, 'data'),
    cacheDir: path.join(base, 'cache'),
    emit: (e) => events.push(e),
  });
  prj = (await svc.call('projects.open', { path: path.join(base, 'ds') })) as ProjectSummary;
});
afterAll(async () => {
  await svc.dispose();
  fs.rmSync(base, { recursive: true, force: true });
});

describe('service: run status across stop and resume', () => {
  it('keeps epochsDone and the epoch total after a resume', async () => {
    const { runId } = (await svc.call('train.start', {
      projectId: prj.id,
      config: { epochs: 3, batchSize: 8, imageSize: 8, backend: 'cpu', seed: 1 },
    })) as MethodResults['train.start'];
    await until(() => events.some((e) => e.type === 'train.epoch' && e.runId === runId));
    await svc.call('train.stop', { runId });
    await until(() => events.some((e) => e.type === 'train.done' && e.runId === runId));
    const stopped = (await svc.call('runs.get', { runId })) as MethodResults['runs.get'];
    expect(stopped.summary.state).toBe('stopped');
    const doneBefore = stopped.summary.epochsDone;
    expect(doneBefore).toBeGreaterThanOrEqual(1);
    expect(doneBefore).toBeLessThan(3);

    const from = events.length;
    await svc.call('train.resume', { runId });
    const running = (await svc.call('runs.get', { runId })) as MethodResults['runs.get'];
    expect(running.summary).toMatchObject({ state: 'running', epochsDone: doneBefore, epochsTotal: 3 });
    await until(() => events.slice(from).some((e) => e.type === 'train.done' && e.runId === runId));
    const progress = events
      .slice(from)
      .filter((e): e is Extract<ApiEvent, { type: 'train.progress' }> => e.type === 'train.progress');
    expect(progress.length).toBeGreaterThan(0);
    for (const e of progress) expect(e.epochs).toBe(3);
    const s = (await svc.call('projects.get', { projectId: prj.id })) as ProjectSummary;
    expect(s.runs.find((r) => r.id === runId)).toMatchObject({ state: 'done', epochsDone: 3, epochsTotal: 3 });
  }, 200_000);
});
