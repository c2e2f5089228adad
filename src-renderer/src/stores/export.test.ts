import { beforeEach, describe, expect, it } from 'vitest';
import { createPinia, setActivePinia } from 'pinia';
import type { ExportSummary, MethodInput, MethodName, MethodResult } from '@shared/contract';
import { setTransport } from '../api/client';
import { FakeApi } from '../../test-support/fake-api';
import { useAppStore } from './app';
import { useExportStore } from './export';

const summary: ExportSummary = {
  mode: 'manifest',
  files: 0,
  manifestRows: 3,
  perClass: [{ label: 'a', count: 3, unreviewed: 2 }],
  ood: 0,
  oodWritten: 0,
  duplicates: 0,
  bySource: { model: 2, given: 0, accepted: 1, overridden: 0, ood: 0, kept: 0, duplicate: 0 },
};

/** A server that finishes a manifest export before it answers export.start (as a fast one does). */
class FastExportApi extends FakeApi {
  jobs = 0;
  override async call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodResult<M>> {
    if (method !== 'export.start') return super.call(method, input);
    const jobId = `job-${++this.jobs}`;
    this.emit({ type: 'export.progress', jobId, done: 0, total: 0 });
    this.emit({ type: 'export.done', jobId, ok: true, dir: '/out', summary });
    return { jobId } as MethodResult<M>;
  }
}

async function setup() {
  const api = new FastExportApi({ n: 10 });
  setTransport({ api, kind: 'http', pickFolder: null, pickSaveFolder: null, onCommand: () => () => undefined });
  setActivePinia(createPinia());
  const app = useAppStore();
  await app.init();
  await app.open('/data/fake');
  return { api, exp: useExportStore() };
}

describe('export store', () => {
  beforeEach(() => setTransport(null));

  it('finishes every export whose events arrive before its job id, not only the first', async () => {
    const { exp } = await setup();
    for (let k = 1; k <= 3; k++) {
      exp.show();
      exp.form.to = `/out-${k}`;
      exp.form.mode = 'manifest';
      await exp.start();
      expect(exp.jobId).toBe(`job-${k}`);
      expect(exp.state).toBe('done');
      expect(exp.summary?.manifestRows).toBe(3);
      exp.hide();
    }
  });

  it('closes while an export runs; the export carries on', async () => {
    const { api, exp } = await setup();
    exp.show();
    exp.form.to = '/out';
    // A slow job: no events yet when export.start answers.
    api.call = (async (method: MethodName, input: unknown) =>
      method === 'export.start'
        ? { jobId: 'slow' }
        : FakeApi.prototype.call.call(api, method, input as never)) as FakeApi['call'];
    await exp.start();
    expect(exp.state).toBe('running');
    exp.hide();
    expect(exp.open).toBe(false);
    api.emit({ type: 'export.done', jobId: 'slow', ok: true, dir: '/out', summary });
    expect(exp.state).toBe('done');
  });
});
