import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPinia, setActivePinia } from 'pinia';
import { nextTick } from 'vue';
import { setTransport } from '../api/client';
import { FakeApi } from '../../test-support/fake-api';
import { useAppStore } from './app';
import { FILTER_DEBOUNCE_MS, readStoredQuery, useReviewStore } from './review';

async function setup() {
  const api = new FakeApi({ n: 200 });
  setTransport({ api, kind: 'http', pickFolder: null, pickSaveFolder: null, onCommand: () => () => undefined });
  setActivePinia(createPinia());
  const app = useAppStore();
  const review = useReviewStore();
  await app.open('/data/fake');
  await nextTick();
  await review.reload();
  return { api, review };
}
const queries = (api: FakeApi) => api.calls.filter((c) => c.method === 'samples.query').length;

describe('review filters', () => {
  beforeEach(() => setTransport(null));
  afterEach(() => vi.useRealTimers());

  it('typing applies once after a pause, and an empty box clears the filter', async () => {
    const { api, review } = await setup();
    vi.useFakeTimers();
    const before = queries(api);
    for (const s of ['a', 'a/', 'a/a_0']) review.setFilterSoon({ search: s });
    expect(queries(api)).toBe(before);
    await vi.advanceTimersByTimeAsync(FILTER_DEBOUNCE_MS + 10);
    expect(queries(api)).toBe(before + 1);
    expect(review.filter.search).toBe('a/a_0');
    review.setFilterSoon({ search: undefined });
    await vi.advanceTimersByTimeAsync(FILTER_DEBOUNCE_MS + 10);
    expect(review.filter.search).toBeUndefined();
    expect(queries(api)).toBe(before + 2);
    // Leaving the box (change event) with the value already applied does not query again.
    review.setFilter({ search: undefined });
    expect(queries(api)).toBe(before + 2);
  });

  it('an id filter carries its label until cleared', async () => {
    const { review } = await setup();
    review.setFilter({ ids: [1, 2, 3] }, '3 images selected on the embedding map');
    expect(review.idsLabel).toBe('3 images selected on the embedding map');
    review.clearIds();
    expect(review.filter.ids).toBeUndefined();
    expect(review.idsLabel).toBeNull();
  });

  it('reads back a stored query and ignores garbage', () => {
    expect(
      readStoredQuery(
        JSON.stringify({ filter: { view: 'ood', search: ' x ', minOod: 3 }, sort: { key: 'confidence', dir: 'desc' } }),
      ),
    ).toEqual({
      filter: { view: 'ood', search: 'x', minOod: 1 },
      sort: { key: 'confidence', dir: 'desc' },
      idsLabel: null,
    });
    expect(readStoredQuery('{')).toBeNull();
    expect(readStoredQuery(JSON.stringify({ filter: { view: 'nope' } }))).toBeNull();
    expect(readStoredQuery(null)).toBeNull();
  });
});
