// Insights in Chromium against `mopro serve` (startServer) on a generated project: the map draws
// every point, a box selection and a confusion-matrix click filter the review grid, the planted
// duplicate pair is found; screenshots of each view go to test-results/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { canRunE2e, matchCount as countShown, screenshot, startE2e, type E2eWorld } from './support';
import { makeInsightsFixture, type InsightsFixture } from '../fixtures/insights';

let world: E2eWorld | undefined;
let fx: InsightsFixture;
let page: Page;
let boxCount = -1;

const shot = (name: string) => screenshot(page, `insights-${name}`);
const matchCount = (): Promise<number> => countShown(page);
async function openInsights(view: 'map' | 'health' | 'duplicates' | 'compare'): Promise<void> {
  await page.getByTestId('tab-insights').click();
  await page.getByTestId(`insights-${view}`).click();
}

describe.runIf(canRunE2e('insights'))('insights in Chromium', () => {
  beforeAll(async () => {
    world = await startE2e('mopro-insights-e2e-', async (tmp) => {
      fx = await makeInsightsFixture(tmp, { perClass: 30 });
      return { dataset: fx.root, dataDir: fx.dataDir };
    });
    page = world.page;
    await page.goto(world.srv.url);
    await page.getByTestId('project-name').waitFor();
  });
  afterAll(() => world?.close());

  it('the map draws every point, PCA first and then UMAP', async () => {
    await openInsights('map');
    const map = page.getByTestId('embedding-map');
    await expect.poll(() => map.getAttribute('data-point-count'), { timeout: 15_000 }).toBe(String(fx.n));
    expect(await map.getAttribute('data-total')).toBe(String(fx.n));
    await expect.poll(() => map.getAttribute('data-method'), { timeout: 60_000 }).toBe('umap');
    await expect.poll(() => map.getAttribute('data-point-count')).toBe(String(fx.n));
    await shot('map');
    // Colour by status: the legend switches to the three statuses, every point still drawn.
    await page.getByTestId('map-color').selectOption('status');
    await expect
      .poll(() => page.locator('.imap-legend li').allTextContents())
      .toEqual(['clean', 'relabeled', 'OOD', 'prototype']);
    expect(await map.getAttribute('data-point-count')).toBe(String(fx.n));
    await shot('map-status');
    await page.getByTestId('map-color').selectOption('given');
  });

  it('a box selection on the map filters the review grid to those samples', async () => {
    await openInsights('map');
    await page.getByTestId('map-mode-box').click();
    const box = (await page.locator('[data-testid=embedding-map] canvas').boundingBox())!;
    await page.mouse.move(box.x + 2, box.y + 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 8 });
    await page.mouse.move(box.x + box.width * 0.55, box.y + box.height - 2, { steps: 8 });
    await page.mouse.up();
    const sel = page.getByTestId('map-selected-count');
    await sel.waitFor();
    const k = Number(await sel.getAttribute('data-count'));
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThan(fx.n);
    boxCount = k;
    await shot('map-selection');
    await page.getByTestId('map-show-in-grid').click();
    await page.getByTestId('grid').waitFor();
    expect(await matchCount()).toBe(k);
    await shot('map-selection-grid');
  });

  it('a lasso selection on the map filters the review grid to those samples', async () => {
    await openInsights('map');
    // Start from no selection, so the count below is the lasso's own.
    if (await page.getByTestId('map-clear-selection').count()) await page.getByTestId('map-clear-selection').click();
    await expect.poll(() => page.getByTestId('map-selected-count').count()).toBe(0);
    await page.getByTestId('map-mode-lasso').click();
    const box = (await page.locator('[data-testid=embedding-map] canvas').boundingBox())!;
    // A triangle over the right part of the map, drawn as a freehand path.
    const pts: [number, number][] = [
      [0.45, 0.02],
      [0.98, 0.02],
      [0.98, 0.98],
      [0.45, 0.02],
    ];
    await page.mouse.move(box.x + box.width * pts[0][0], box.y + box.height * pts[0][1]);
    await page.mouse.down();
    for (const [x, y] of pts.slice(1))
      await page.mouse.move(box.x + box.width * x, box.y + box.height * y, { steps: 10 });
    await page.mouse.up();
    const sel = page.getByTestId('map-selected-count');
    await sel.waitFor();
    const k = Number(await sel.getAttribute('data-count'));
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThan(fx.n);
    // The box test took the left part; the lasso is the right part: a different set.
    expect(k).not.toBe(boxCount);
    await shot('map-lasso');
    await page.getByTestId('map-show-in-grid').click();
    await page.getByTestId('grid').waitFor();
    expect(await matchCount()).toBe(k);
  });

  it('a confusion-matrix cell filters the review grid', async () => {
    await openInsights('health');
    await page.getByTestId('confusion').waitFor();
    await page.getByTestId('health-table').waitFor();
    await shot('health');
    // An off-diagonal cell (given coat, corrected to something else or OOD) with images in it.
    const cells = page.locator('[data-testid^="confusion-"][data-count]');
    const ids = await cells.evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')!));
    const target = ids.find((id) => {
      const [, g, c] = id.split('-');
      return g !== c;
    })!;
    expect(target).toBeTruthy();
    const want = Number(await page.getByTestId(target).getAttribute('data-count'));
    await page.getByTestId(target).click();
    await page.getByTestId('grid').waitFor();
    expect(await matchCount()).toBe(want);
    const [, given] = target.split('-');
    await expect.poll(() => page.getByTestId('filter-given').inputValue()).toBe(given);
  });

  it('finds the planted duplicate pair as a label conflict and keeps one', async () => {
    await openInsights('duplicates');
    const pair = page.getByTestId('dup-pair').first();
    await pair.waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('dup-pair').count()).toBe(1);
    expect([await pair.getAttribute('data-a'), await pair.getAttribute('data-b')].sort()).toEqual(
      [fx.dup.a, fx.dup.b].sort(),
    );
    await expect.poll(() => pair.getByTestId('dup-conflict').count()).toBe(1);
    await shot('duplicates');
    // Keep the first image: the other one becomes OOD through the decision journal.
    await pair.getByTestId('dup-keep').first().click();
    await expect.poll(() => page.getByTestId('reviewed-counter').textContent()).toMatch(/reviewed 1 of/);
  });

  it('compares two runs side by side', async () => {
    await openInsights('compare');
    await page.getByTestId('compare-table').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid=compare-table] tbody tr').count()).toBe(fx.classes.length);
    await shot('compare');
  });
});
