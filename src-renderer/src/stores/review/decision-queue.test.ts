import { describe, expect, it, vi } from 'vitest';
import { ref } from 'vue';
import type { MoproApi } from '@shared/contract';
import { FakeApi } from '../../../test-support/fake-api';
import { describeAction, useDecisionQueue } from './decision-queue';

function setup(api: Pick<MoproApi, 'call'> = new FakeApi({ n: 30 }), projectId: string | null = 'p-fake') {
  const log: string[] = [];
  const status = ref('');
  const fail = vi.fn();
  const q = useDecisionQueue({
    projectId: () => projectId,
    api: () => api,
    refreshRows: async () => void log.push('refresh'),
    showDetail: () => void log.push('detail'),
    status,
    fail,
  });
  const counters = () => ({ reviewed: q.reviewed.value, canUndo: q.canUndo.value, canRedo: q.canRedo.value });
  return { q, log, status, fail, counters };
}

describe('decision queue', () => {
  it('undo and redo mirror each other step by step', async () => {
    const fake = new FakeApi({ n: 30 });
    const { q, log, status, counters } = setup(fake);
    const state = () => [...fake.decisions.entries()].sort((a, b) => a[0] - b[0]);
    const s0 = state();
    await q.decide({ kind: 'accept' }, () => ({ ids: [1, 2, 3], landed: () => log.push('landed') }));
    expect(log).toEqual(['refresh', 'landed', 'detail']);
    expect(status.value).toBe('Accepted the suggestion for 3 images');
    const s1 = state();
    const c1 = counters();
    await q.decide({ kind: 'override', label: 'bag' }, () => ({ ids: [3, 4] }));
    const s2 = state();
    const c2 = counters();
    expect(c2).toEqual({ reviewed: 4, canUndo: true, canRedo: false });

    log.length = 0;
    await q.undo();
    expect(log).toEqual(['refresh', 'detail']);
    expect(status.value).toBe('Undid the last action (2 images)');
    expect(state()).toEqual(s1);
    expect(counters()).toEqual({ ...c1, canRedo: true });
    await q.undo();
    expect(status.value).toBe('Undid the last action (3 images)');
    expect(state()).toEqual(s0);
    expect(counters()).toEqual({ reviewed: 0, canUndo: false, canRedo: true });
    await q.undo();
    expect(status.value).toBe('Nothing to undo');

    await q.redo();
    expect(status.value).toBe('Redid 3 images');
    expect(state()).toEqual(s1);
    expect(counters()).toEqual({ ...c1, canRedo: true });
    await q.redo();
    expect(status.value).toBe('Redid 2 images');
    expect(state()).toEqual(s2);
    expect(counters()).toEqual(c2);
    await q.redo();
    expect(status.value).toBe('Nothing to redo');
    expect(counters()).toEqual(c2);

    await q.undo();
    await q.redo();
    expect(status.value).toBe('Redid 2 images');
    expect(state()).toEqual(s2);
  });

  it('one image reads in the singular both ways', async () => {
    const { q, status } = setup();
    await q.decide({ kind: 'ood' }, () => ({ ids: [7] }));
    expect(status.value).toBe('Marked 1 image out-of-distribution');
    await q.undo();
    expect(status.value).toBe('Undid the last action (1 image)');
    await q.redo();
    expect(status.value).toBe('Redid 1 image');
  });

  it('runs jobs one after another and reads a target only when its turn comes', async () => {
    const fake = new FakeApi({ n: 30 });
    const { q, log } = setup(fake);
    let release!: () => void;
    fake.gate = new Promise<void>((r) => (release = r));
    const a = q.decide(
      { kind: 'accept' },
      () => (log.push('target a'), { ids: [1], landed: () => log.push('a landed') }),
    );
    const b = q.decide(
      { kind: 'keep' },
      () => (log.push('target b'), { ids: [2], landed: () => log.push('b landed') }),
    );
    const u = q.undo();
    await new Promise((r) => setTimeout(r, 10));
    expect(log).toEqual(['target a']);
    expect(q.deciding.value).toBe(true);
    fake.gate = null;
    release();
    await Promise.all([a, b, u]);
    expect(log).toEqual([
      'target a',
      'refresh',
      'a landed',
      'detail',
      'target b',
      'refresh',
      'b landed',
      'detail',
      'refresh',
      'detail',
    ]);
    expect(q.deciding.value).toBe(false);
    expect([...fake.decisions.keys()]).toEqual([1]);
  });

  it('a failed call is reported and the queue goes on', async () => {
    const fake = new FakeApi({ n: 30 });
    let failNext = true;
    const flaky: Pick<MoproApi, 'call'> = {
      call: (m, i) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('journal is read-only'));
        }
        return fake.call(m, i);
      },
    };
    const { q, fail, status } = setup(flaky);
    await q.decide({ kind: 'accept' }, () => ({ ids: [1] }));
    expect(fail).toHaveBeenCalledTimes(1);
    expect(q.deciding.value).toBe(false);
    expect(q.reviewed.value).toBe(0);
    await q.decide({ kind: 'accept' }, () => ({ ids: [1] }));
    expect(q.reviewed.value).toBe(1);
    expect(status.value).toBe(describeAction({ kind: 'accept' }, 1));
  });

  it('without a project or a target nothing is sent', async () => {
    const fake = new FakeApi({ n: 30 });
    const none = setup(fake, null);
    await none.q.decide({ kind: 'accept' }, () => ({ ids: [1] }));
    await none.q.undo();
    await none.q.redo();
    const empty = setup(fake);
    await empty.q.decide({ kind: 'accept' }, () => null);
    await empty.q.decide({ kind: 'accept' }, () => ({ ids: [] }));
    expect(fake.calls).toEqual([]);
    expect(none.log.concat(empty.log)).toEqual([]);
  });

  it('re-reads rows for a change made elsewhere, not for the echo of its own decision', async () => {
    const fake = new FakeApi({ n: 30 });
    const { q, log } = setup(fake);
    fake.on((e) => {
      if (e.type === 'decisions.changed') q.heard(e);
    });
    await q.decide({ kind: 'accept' }, () => ({ ids: [1] })); // the fake echoes an event mid-call
    expect(log.filter((x) => x === 'refresh')).toHaveLength(1);
    q.heard({ reviewed: 5, canUndo: true, canRedo: false }); // another window decided
    await q.settled();
    expect(log.filter((x) => x === 'refresh')).toHaveLength(2);
    expect(q.reviewed.value).toBe(5);
    q.heard({ reviewed: 5, canUndo: true, canRedo: false }); // nothing new
    await q.settled();
    expect(log.filter((x) => x === 'refresh')).toHaveLength(2);
  });
});
