// Opening a folder: while the scan runs, the start screen shows how many images it has found and a
// Cancel button that asks the API to stop that scan.
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, nextTick } from 'vue';
import { createPinia, setActivePinia } from 'pinia';
import { setTransport } from '../api/client';
import { FakeApi } from '../../test-support/fake-api';
import { useAppStore } from '../stores/app';
import StartScreen from './StartScreen.vue';

afterEach(() => setTransport(null));

describe('open-folder scan on the start screen', () => {
  it('shows images found while scanning, and Cancel calls projects.cancelOpen for that folder', async () => {
    const api = new FakeApi({ n: 10 });
    setTransport({ api, kind: 'http', pickFolder: null, pickSaveFolder: null, onCommand: () => () => undefined });
    const pinia = createPinia();
    setActivePinia(pinia);
    const store = useAppStore();
    await store.init();
    const el = document.createElement('div');
    const app = createApp(StartScreen);
    app.use(pinia);
    app.mount(el);
    await nextTick();
    expect(el.querySelector('[data-testid="open-cancel"]')).toBeNull();

    let release!: () => void;
    api.gate = new Promise<void>((r) => (release = r));
    const opening = store.open('/data/huge');
    await nextTick();
    api.emit({ type: 'scan.progress', projectId: 'huge-1', path: '/data/huge', done: 1234, total: 0 });
    await nextTick();
    expect(el.querySelector('[data-testid="open-progress"]')?.textContent).toMatch(/1234 images found/);
    const cancel = el.querySelector<HTMLButtonElement>('[data-testid="open-cancel"]');
    expect(cancel).not.toBeNull();
    cancel!.click();
    release();
    await opening;
    await nextTick();
    expect(api.calls.find((c) => c.method === 'projects.cancelOpen')?.input).toEqual({ path: '/data/huge' });
    expect(store.scanFound).toBeNull();
    expect(el.querySelector('[data-testid="open-cancel"]')).toBeNull();
    app.unmount();
  });
});
