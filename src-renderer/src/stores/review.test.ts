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

  it('two quick key presses decide two images in a row, each once the one before landed', async () => {
    const { api, review } = await setup();
    const [a, b] = [review.rowAt(0)!.id, review.rowAt(1)!.id];
    let release!: () => void;
    api.gate = new Promise<void>((r) => (release = r));
    const first = review.decide({ kind: 'accept' });
    const second = review.decide({ kind: 'keep' });
    await new Promise((r) => setTimeout(r, 10));
    api.gate = null;
    release();
    await Promise.all([first, second]);
    expect(api.decisions.get(a)).toEqual({ kind: 'accept' });
    expect(api.decisions.get(b)).toEqual({ kind: 'keep' });
    expect(review.focusIndex).toBe(2);
    expect(review.status).toBe('Kept the given label for 1 image');
  });

  it('shift+arrows grow a range from the anchor; a bulk decision clears it; Esc-style clear drops the anchor', async () => {
    const { api, review } = await setup();
    review.cols = 4;
    review.focus(5);
    review.move('right', true);
    review.move('down', true);
    await review.settled();
    expect(review.anchor).toBe(5);
    expect(review.focusIndex).toBe(10);
    expect(review.selectedCount).toBe(6); // positions 5..10
    expect(review.isSelected(review.rowAt(10)!.id) && !review.isSelected(review.rowAt(4)!.id)).toBe(true);
    review.clickCell(12, { shift: false, toggle: true });
    expect(review.selectedCount).toBe(7);
    await review.decide({ kind: 'ood' });
    expect(api.decisions.size).toBe(7);
    expect(review.selectedCount).toBe(0);
    expect(review.status).toBe('Marked 7 images out-of-distribution');
    review.toggleSelect(3);
    review.clearSelection();
    expect(review.selectedCount).toBe(0);
    expect(review.anchor).toBeNull();
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
