import { beforeEach, describe, expect, it } from 'vitest';
import { createPinia, setActivePinia } from 'pinia';
import { nextTick } from 'vue';
import { setTransport } from '../api/client';
import { FakeApi } from '../../test-support/fake-api';
import { useAppStore } from './app';
import { useReviewStore } from './review';

async function setup(n = 1000) {
  const api = new FakeApi({ n });
  setTransport({ api, kind: 'http', pickFolder: null, pickSaveFolder: null, onCommand: () => () => undefined });
  setActivePinia(createPinia());
  const app = useAppStore();
  const review = useReviewStore();
  await app.open('/data/fake');
  await nextTick();
  await review.reload();
  return { api, app, review };
}

describe('review store', () => {
  beforeEach(() => setTransport(null));

  it('loads only the first page of a large list', async () => {
    const { api, review } = await setup(100_000);
    expect(review.total).toBe(100_000);
    const queries = api.calls.filter((c) => c.method === 'samples.query');
    expect(queries.every((c) => (c.input as { limit: number }).limit <= 150)).toBe(true);
    expect(review.rowAt(0)).toBeDefined();
    expect(review.rowAt(50_000)).toBeUndefined();
  });

  it('shows a decision only after the API confirmed it, then moves focus on', async () => {
    const { api, review } = await setup();
    const first = review.rowAt(0)!;
    let release!: () => void;
    api.gate = new Promise<void>((r) => (release = r));
    const pending = review.decide({ kind: 'accept' });
    await new Promise((r) => setTimeout(r, 10));
    expect(review.rowAt(0)!.decision).toBeNull(); // no optimistic UI
    api.gate = null;
    release();
    await pending;
    expect(review.rowAt(0)!.id).toBe(first.id);
    expect(review.rowAt(0)!.decision).toEqual({ kind: 'accept' });
    expect(review.focusIndex).toBe(1);
    expect(review.reviewed).toBe(1);
  });

  it('bulk applies to the selection (select all in filter), undo and redo', async () => {
    const { api, review } = await setup();
    review.setFilter({ view: 'ood' });
    await review.reload();
    await review.selectAll();
    const oodCount = api.base.filter((b) => b.status === 'ood').length;
    expect(review.selectedCount).toBe(oodCount);
    await review.decide({ kind: 'ood' });
    expect(review.reviewed).toBe(oodCount);
    expect(review.selectedCount).toBe(0);
    expect(review.rowAt(0)!.decision).toEqual({ kind: 'ood' });
    await review.undo();
    expect(review.reviewed).toBe(0);
    expect(review.rowAt(0)!.decision).toBeNull();
    await review.redo();
    expect(review.reviewed).toBe(oodCount);
  });

  it('override by class number, range selection by position', async () => {
    const { api, review } = await setup();
    await review.overrideToIndex(2);
    expect(api.decisions.get(review.rowAt(0)!.id)).toEqual({ kind: 'override', label: api.classes[2] });
    await review.selectRange(3, 7, false);
    expect(review.selectedCount).toBe(5);
    await review.overrideToIndex(42); // no such class: nothing applied
    expect(api.decisions.size).toBe(1);
  });
});
