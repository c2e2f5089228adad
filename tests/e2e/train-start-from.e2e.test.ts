// Train panel "Start from" + "Freeze backbone (fast)" in Chromium against `mopro serve`: the expected time of the
// frozen-feature pass is shown before starting, and a run started from an earlier run with the backbone frozen
// finishes with the earlier run's encoder (--init) and cached frozen features in its run.json.
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunE2e, startE2e, type E2eWorld } from './support';

const SAMPLE = path.resolve('resources/sample');
const CLASSES = ['Bag', 'Sneaker', 'Trouser'];

let world: E2eWorld | undefined;
let tmp: string, dataset: string, page: Page, pageErrors: string[];

describe.runIf(canRunE2e('train start-from'))('Train panel: start from an earlier run, backbone frozen', () => {
  beforeAll(async () => {
    world = await startE2e('mopro-startfrom-e2e-', (dir) => {
      dataset = path.join(dir, 'three');
      for (const c of CLASSES) fs.cpSync(path.join(SAMPLE, c), path.join(dataset, c), { recursive: true });
      return {};
    });
    ({ tmp, page, pageErrors } = world);
    await page.goto(world.srv.url);
  });
  afterAll(() => world?.close());

  it('shows the frozen-feature estimate and trains from the first run with the backbone frozen', async () => {
    await page.getByTestId('open-path').fill(dataset);
    await page.getByTestId('open-submit').click();
    await expect.poll(async () => (await page.getByTestId('project-name').count()) > 0, { timeout: 30_000 }).toBe(true);
    await page.getByTestId('tab-train').click();
    const n = CLASSES.reduce((s, c) => s + fs.readdirSync(path.join(dataset, c)).length, 0);
    // before any run: ImageNet ResNet-18 + freeze shows the expected feature time at the CPU default of 112 px
    await page.getByTestId('train-start-from').selectOption('imagenet:resnet18');
    await page.getByTestId('train-freeze-backbone').check();
    await expect
      .poll(() => page.getByTestId('train-frozen-estimate').textContent())
      .toMatch(new RegExp(`Features of ${n} images and their mirrors at 112 px: about \\d+ (s|min) on one CPU core`));
    // a first run from scratch
    await page.getByTestId('train-start-from').selectOption('scratch');
    await expect.poll(() => page.getByTestId('train-freeze-backbone').count()).toBe(0);
    await page.getByTestId('train-epochs').fill('1');
    await page.getByTestId('train-start').click();
    await expect
      .poll(() => page.getByTestId('run-state').textContent(), { timeout: 120_000, interval: 500 })
      .toBe('done');
    // then from that run, backbone frozen
    await page.getByTestId('train-start-from').selectOption('run');
    await expect.poll(() => page.getByTestId('train-init-run').inputValue()).not.toBe('');
    await page.getByTestId('train-freeze-backbone').check();
    await page.getByTestId('train-start').click();
    await expect.poll(async () => await page.locator('[data-testid=run-item]').count(), { timeout: 30_000 }).toBe(2);
    await expect
      .poll(() => page.getByTestId('run-state').textContent(), { timeout: 120_000, interval: 500 })
      .toBe('done');
    const runs = fs
      .readdirSync(path.join(tmp, 'data'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('run.json'));
    const jsons = runs.map((f) => JSON.parse(fs.readFileSync(path.join(tmp, 'data', f), 'utf8')));
    const frozen = jsons.find((j) => j.frozenBackbone);
    expect(frozen, `run.json files: ${runs.join(', ')}`).toBeTruthy();
    expect(frozen.state).toBe('done');
    expect(frozen.config.freezeBackbone).toBe(true);
    expect(frozen.init.run).toBe(jsons.find((j) => !j.frozenBackbone).out);
    expect(pageErrors).toEqual([]);
  }, 280_000);
});
