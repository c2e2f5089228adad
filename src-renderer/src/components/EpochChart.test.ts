// The loss chart draws the total and one line per loss term of the shared table, in its order and colours, and
// explains the step where the prototype loss joins the total.
import { describe, expect, it } from 'vitest';
import { createApp, nextTick } from 'vue';
import type { EpochStats } from '@shared/contract';
import { LOSS_TERMS, LossName } from '@shared/losses';
import EpochChart from './EpochChart.vue';

const epoch = (i: number, pro: number): EpochStats => ({
  epoch: i,
  loss: 2 - i * 0.1 + pro,
  losses: { ce: 1.5 - i * 0.1, ins: 4, pro },
  relabeled: i,
  ood: 0,
  imagesPerSec: 100,
  seconds: 1,
});

async function mount(epochs: EpochStats[], kind: 'loss' | 'counts') {
  const el = document.createElement('div');
  const app = createApp(EpochChart, { epochs, kind });
  app.mount(el);
  await nextTick();
  return { el, app };
}

describe('EpochChart', () => {
  it('one line per loss term after the total, named by the table, coloured in its order', async () => {
    const { el, app } = await mount([epoch(0, 0), epoch(1, 0), epoch(2, 0.5)], 'loss');
    const keys = [...el.querySelectorAll('.legend .key')];
    expect(keys.map((k) => k.textContent)).toEqual(['total', ...LossName.options.map((n) => LOSS_TERMS[n].label)]);
    expect(keys.map((k) => k.classList[1])).toEqual(['s1', 's2', 's3', 's4']);
    expect(el.querySelectorAll('path.line')).toHaveLength(1 + LossName.options.length);
    expect(el.querySelector('[data-testid="proto-note"]')!.textContent).toMatch(/epoch 3/);
    app.unmount();
  });

  it('no note when the prototype loss is there from the first epoch', async () => {
    const { el, app } = await mount([epoch(0, 0.3), epoch(1, 0.2)], 'loss');
    expect(el.querySelector('[data-testid="proto-note"]')).toBeNull();
    app.unmount();
  });
});
