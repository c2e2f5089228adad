// Engine jobs run in their own process: a native abort (process.abort(), as a crashing native backend
// would) or a non-zero exit mid-run leaves the API service up, marks the run failed with the reason in
// run.json and in the train.done event, and the next run starts in a fresh process and finishes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent, MethodResults, ProjectSummary } from '../../src-shared/contract';
import type { ApiService } from '../../src-main/api/service-types';
import { createService } from '../../src-main/api/service';
import { makeDataset } from '../fixtures/project';
import { startTraining } from '../../src-main/engine/index';

let base: string, svc: ApiService, prj: ProjectSummary;
const events: ApiEvent[] = [];
const config = { epochs: 1, batchSize: 8, imageSize: 8, backend: 'cpu' as const, seed: 1 };

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-job-crash-'));
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
  delete process.env.MOPRO_ENGINE_TEST_CRASH;
  await svc.dispose();
  fs.rmSync(base, { recursive: true, force: true });
});

async function trainDone(runId: string): Promise<Extract<ApiEvent, { type: 'train.done' }>> {
  const end = Date.now() + 120_000;
  for (;;) {
    const e = events.find(
      (x): x is Extract<ApiEvent, { type: 'train.done' }> => x.type === 'train.done' && x.runId === runId,
    );
    if (e) return e;
    if (Date.now() > end) throw new Error(`no train.done for ${runId}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('engine job crash isolation', () => {
  it('a native abort mid-run fails that run with the reason; the service stays up and the next run trains', async () => {
    process.env.MOPRO_ENGINE_TEST_CRASH = 'abort'; // read by the job process at start
    const { runId } = (await svc.call('train.start', { projectId: prj.id, config })) as MethodResults['train.start'];
    delete process.env.MOPRO_ENGINE_TEST_CRASH;
    const failed = await trainDone(runId);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/engine process was killed by SIGABRT/);
    // it got as far as a training step before dying, so this is a crash mid-run, not a start-up error
    expect(events.some((e) => e.type === 'train.progress' && e.runId === runId && e.phase === 'train')).toBe(true);
    const run = (await svc.call('runs.get', { runId })) as MethodResults['runs.get'];
    expect(run.summary.state).toBe('failed');
    expect(run.summary.error).toMatch(/SIGABRT/);
    const onDisk = JSON.parse(fs.readFileSync(path.join(run.summary.dir, 'run.json'), 'utf8'));
    expect(onDisk).toMatchObject({ state: 'failed', error: expect.stringMatching(/SIGABRT/) });

    // same service, no restart: a fresh job process trains the next run to the end
    const { runId: next } = (await svc.call('train.start', {
      projectId: prj.id,
      config,
    })) as MethodResults['train.start'];
    expect(next).not.toBe(runId);
    const ok = await trainDone(next);
    expect(ok.state).toBe('done');
    const s = (await svc.call('projects.get', { projectId: prj.id })) as ProjectSummary;
    expect(s.runs.find((r) => r.id === next)).toMatchObject({ state: 'done', epochsDone: 1 });
    expect(s.runs.find((r) => r.id === runId)).toMatchObject({ state: 'failed' });
  }, 180_000);

  it('a job that exits non-zero mid-run rejects with the exit code (engine entry, no service)', async () => {
    process.env.MOPRO_ENGINE_TEST_CRASH = 'exit';
    const out = path.join(base, 'direct');
    const h = startTraining(
      {
        dataset: path.join(base, 'ds'),
        out,
        method: 'ce',
        backend: 'cpu',
        epochs: 1,
        batchSize: 8,
        imageSize: 8,
        cacheDir: path.join(base, 'cache'),
      },
      () => {},
    );
    delete process.env.MOPRO_ENGINE_TEST_CRASH;
    await expect(h.done).rejects.toThrow(/engine process exited with code 3/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'))).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/code 3/),
    });
  }, 120_000);
});
