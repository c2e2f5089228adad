// The read-only notice: who has the project open, and that it goes once they close it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp, nextTick } from 'vue';
import { createPinia, setActivePinia } from 'pinia';
import type { MethodInput, MethodName, MethodResult } from '@shared/contract';
import { setTransport } from '../api/client';
import { FakeApi } from '../../test-support/fake-api';
import { ELSEWHERE_POLL_MS, useAppStore } from '../stores/app';
import OpenElsewhereNotice from './OpenElsewhereNotice.vue';

/** A server whose project another process holds until `release()`. */
class HeldElsewhere extends FakeApi {
  holder: { pid: number; host: string; since: string } | null = {
    pid: 4242,
    host: 'box',
    since: '2026-01-02T03:04:05.000Z',
  };
  override async call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodResult<M>> {
    const out = await super.call(method, input);
    if (method === 'projects.open' || method === 'projects.get')
      return { ...(out as object), openElsewhere: this.holder } as MethodResult<M>;
    return out;
  }
}

afterEach(() => {
  vi.useRealTimers();
  setTransport(null);
});

describe('open-elsewhere notice', () => {
  it('names the process and the time, and says decisions are saved only there', async () => {
    const el = document.createElement('div');
    const app = createApp(OpenElsewhereNotice, {
      holder: { pid: 4242, host: 'box', since: '2026-01-02T03:04:05.000Z' },
    });
    app.mount(el);
    await nextTick();
    const n = el.querySelector('[data-testid="open-elsewhere"]')!;
    expect(n.textContent).toMatch(/open elsewhere \(pid 4242 on box, since .+\)/);
    expect(n.textContent).toMatch(/decisions are saved only there/);
    expect(n.getAttribute('role')).toBe('status');
    app.unmount();
  });

  it('the app store carries the holder from the API and drops it once the other process closed the project', async () => {
    vi.useFakeTimers();
    const api = new HeldElsewhere({ n: 10 });
    setTransport({ api, kind: 'http', pickFolder: null, pickSaveFolder: null, onCommand: () => () => undefined });
    setActivePinia(createPinia());
    const store = useAppStore();
    await store.open('/data/fake');
    expect(store.project?.openElsewhere).toEqual({ pid: 4242, host: 'box', since: '2026-01-02T03:04:05.000Z' });
    await vi.advanceTimersByTimeAsync(ELSEWHERE_POLL_MS);
    expect(store.project?.openElsewhere?.pid).toBe(4242); // still held
    api.holder = null;
    await vi.advanceTimersByTimeAsync(ELSEWHERE_POLL_MS);
    expect(store.project?.openElsewhere).toBeNull();
    const gets = api.calls.filter((c) => c.method === 'projects.get').length;
    await vi.advanceTimersByTimeAsync(ELSEWHERE_POLL_MS * 3);
    expect(api.calls.filter((c) => c.method === 'projects.get').length).toBe(gets); // polling stopped
  });
});
