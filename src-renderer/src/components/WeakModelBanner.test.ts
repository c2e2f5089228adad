// The weak-model banner says why and what to do; the presets size their epochs by the folder.
import { describe, expect, it } from 'vitest';
import { createApp, nextTick } from 'vue';
import WeakModelBanner from './WeakModelBanner.vue';
import { presetEpochs, presets } from '../stores/train';

describe('weak-model banner', () => {
  it('shows the reason and the advice, and asks for another training', async () => {
    const el = document.createElement('div');
    let asked = 0;
    const app = createApp(WeakModelBanner, {
      suggestions: {
        statusRule: 'best',
        trusted: false,
        reason: 'noise cleaning never ran (it starts at epoch 3, the run trained 2)',
        advice: 'train longer',
        oodThreshold: 0.9,
      },
      onTrain: () => {
        asked++;
      },
    });
    app.mount(el);
    await nextTick();
    expect(el.querySelector('[data-testid="weak-model-reason"]')!.textContent).toMatch(/cleaning never ran/);
    expect(el.querySelector('[data-testid="weak-model-advice"]')!.textContent).toMatch(/train longer/);
    (el.querySelector('[data-testid="weak-model-train"]') as HTMLButtonElement).click();
    expect(asked).toBe(1);
    app.unmount();
  });
});

describe('presets', () => {
  it("size epochs by image passes within each preset's bounds", () => {
    const quick = presets.find((p) => p.id === 'quick')!;
    expect(presetEpochs(quick, 400)).toBe(30);
    expect(presetEpochs(quick, 1000)).toBe(12); // the bundled sample: tests/integration/sample-suggestions.test.ts trains exactly this
    expect(presetEpochs(quick, 2000)).toBe(6);
    expect(presetEpochs(quick, 100_000)).toBe(quick.minEpochs);
    for (const p of presets)
      for (const n of [50, 400, 2000, 10_000, 1e6]) {
        const e = presetEpochs(p, n);
        expect(e).toBeGreaterThanOrEqual(p.minEpochs);
        expect(e).toBeLessThanOrEqual(p.maxEpochs);
      }
    // bigger presets never train less
    for (const n of [400, 2000, 10_000])
      expect(presetEpochs(presets[1]!, n)).toBeGreaterThanOrEqual(presetEpochs(presets[0]!, n));
  });
});
