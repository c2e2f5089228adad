// What a first-time user tripped over, in Chromium against `mopro serve` on a generated project
// (two finished runs, a planted duplicate and a planted look-alike): the Export dialog never locks
// up and says per class how many labels are unreviewed guesses; a filter from Insights shows as a
// chip that Esc / Clear removes; filters apply as you type and survive a reload; near duplicates
// are near-identical and "keep one" is a duplicate decision, not OOD; only loadable backends are
// offered; runs are named, renamed and deleted; number keys are listed; "Open folder…" shows its
// errors beside the field; the Train panel explains the final pass and the prototype-loss step.
// Screenshots go to test-results/polish-*.png.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src-main/server/server';
import { callApi, canRunE2e, matchCount as countShown, screenshot, startE2e, type E2eWorld } from './support';
import { makeInsightsFixture, EMB_DIM, type InsightsFixture } from '../fixtures/insights';
import { makeDataset } from '../fixtures/project';
import { runsDir } from '../../src-main/project/project';
import { EMBEDDINGS_F32, RUN_JSON } from '../../src-shared/run-format';
import type { EpochStats, MethodName, MethodResult } from '../../src-shared/contract';

let world: E2eWorld | undefined;
let tmp: string;
let fx: InsightsFixture;
let plain: string; //   a second dataset with no run yet
let srv: RunningServer;
let page: Page;
const FAILED_RUN = '20260103T000000-mopro-dead';
/** The look-alike: same embedding as its partner, but the pixels differ by 10 grey levels. */
let lookAlike: { a: string; b: string };

const shot = (name: string) => screenshot(page, `polish-${name}`);

const api = <M extends MethodName>(method: M, body: object): Promise<MethodResult<M>> => callApi(srv, method, body);
const matchCount = (): Promise<number> => countShown(page);
/** The count once it stops changing (debounced filters land a moment after typing): two equal reads in a row. */
async function settledCount(want: (n: number) => boolean): Promise<number> {
  let n = -1;
  let last = -2;
  await expect
    .poll(
      async () => {
        const prev = last;
        n = await matchCount();
        last = n;
        return want(n) && n === prev;
      },
      { timeout: 10_000, interval: 150 },
    )
    .toBe(true);
  return n;
}
/** Types into a box as a person does, once the box really has the keyboard (a stray key would hit the grid). */
async function typeInto(testId: string, text: string): Promise<void> {
  await page.getByTestId(testId).click();
  // (an expression string: this file is type-checked without the DOM library)
  await page.waitForFunction(`document.activeElement?.getAttribute('data-testid') === ${JSON.stringify(testId)}`);
  await page.getByTestId(testId).pressSequentially(text, { delay: 20 });
  expect(await page.getByTestId(testId).inputValue()).toBe(text);
}
async function openReview(): Promise<void> {
  await page.getByTestId('tab-review').click();
  await page.getByTestId('grid').waitFor();
}
async function openInsights(view: 'map' | 'health' | 'duplicates' | 'compare'): Promise<void> {
  await page.getByTestId('tab-insights').click();
  await page.getByTestId(`insights-${view}`).click();
}
function readLabels(dir: string): Record<string, string>[] {
  return parse(fs.readFileSync(path.join(dir, 'labels.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
}
async function exportVia(to: string, mode: 'copy' | 'manifest', includeOod = false): Promise<void> {
  if (!(await page.getByTestId('export-dialog').count())) await page.getByTestId('open-export').click();
  await page.getByTestId('export-dialog').waitFor();
  await page.getByTestId('export-include-ood').setChecked(includeOod);
  await page.getByTestId('export-to').fill(to);
  await page.getByTestId(`export-mode-${mode}`).check();
  await page.getByTestId('export-start').click();
  await page.getByTestId('export-result').waitFor({ timeout: 20_000 });
}

describe.runIf(canRunE2e('polish'))('first-time user polish in Chromium', () => {
  beforeAll(async () => {
    world = await startE2e('mopro-polish-e2e-', prepare, { width: 1440, height: 900 });
    ({ tmp, srv, page } = world);
    page.on('dialog', (d) => void d.accept());
  });
  /** The generated project with two finished runs, a look-alike pair and a failed run; a second plain dataset. */
  async function prepare(dir: string): Promise<{ dataset: string; dataDir: string }> {
    fx = await makeInsightsFixture(dir, { perClass: 30 });
    const runDir = path.join(runsDir(fx.dataDir, fx.projectId), fx.runs.mopro);
    // A look-alike pair: coat images 5 and 15 are flat grey 10 levels apart (so their dHashes are
    // equal), given the same embedding: the model thinks them the same, the pixels do not.
    const rows = fs
      .readFileSync(path.join(runDir, 'samples.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]);
    lookAlike = { a: 'coat/coat_0005.png', b: 'coat/coat_0015.png' };
    if (lookAlike.a === fx.dup.a || lookAlike.b === fx.dup.a)
      throw new Error('the look-alike must not involve the planted duplicate');
    const ia = rows.indexOf(lookAlike.a),
      ib = rows.indexOf(lookAlike.b);
    const emb = new Float32Array(new Uint8Array(fs.readFileSync(path.join(runDir, EMBEDDINGS_F32))).buffer);
    emb.copyWithin(ib * EMB_DIM, ia * EMB_DIM, ia * EMB_DIM + EMB_DIM);
    fs.writeFileSync(path.join(runDir, EMBEDDINGS_F32), Buffer.from(emb.buffer));
    // Final-pass counts and a prototype loss that starts after one warm-up epoch, as the engine writes them.
    const j = JSON.parse(fs.readFileSync(path.join(runDir, RUN_JSON), 'utf8'));
    j.counts = { clean: 90, relabeled: 20, ood: 11 };
    j.epochs = j.epochs.map((e: EpochStats, i: number) =>
      i === 0 ? { ...e, loss: e.loss - e.losses.pro, losses: { ...e.losses, pro: 0 } } : e,
    );
    fs.writeFileSync(path.join(runDir, RUN_JSON), JSON.stringify(j));
    // A failed run (no samples.csv, an error in run.json), as a crash leaves it.
    const dead = path.join(runsDir(fx.dataDir, fx.projectId), FAILED_RUN);
    fs.mkdirSync(dead, { recursive: true });
    fs.writeFileSync(
      path.join(dead, RUN_JSON),
      JSON.stringify({
        config: { method: 'mopro', epochs: 3, dataset: fx.root },
        state: 'failed',
        error: 'out of memory',
        epochs: [],
        createdAt: '2026-01-03T00:00:00Z',
      }),
    );
    plain = path.join(dir, 'plain');
    await makeDataset(plain, ['cat', 'dog'], 4);
    return { dataset: fx.root, dataDir: fx.dataDir };
  }
  // Each test starts from a fresh page on the generated project, so one failure cannot leave a
  // dialog open over the next test.
  beforeEach(async () => {
    await page.goto(srv.url);
    await page.getByTestId('project-name').waitFor();
  });
  afterAll(() => world?.close());

  it('manifest export finishes every time, and Esc closes the dialog', async () => {
    for (const k of [1, 2, 3]) {
      const to = path.join(tmp, `manifest-${k}`);
      await exportVia(to, 'manifest');
      // The result names what a manifest export writes: labels.csv with one row per image.
      await expect
        .poll(() => page.getByTestId('export-result').textContent())
        .toMatch(new RegExp(`labels\\.csv with ${fx.n} rows`));
      expect(readLabels(to)).toHaveLength(fx.n);
      await page.keyboard.press('Escape');
      await expect.poll(() => page.getByTestId('export-dialog').count()).toBe(0);
    }
  });

  it('the export summary counts every class and says how many labels are unreviewed model guesses', async () => {
    const to = path.join(tmp, 'copy-1');
    await exportVia(to, 'copy');
    const labels = readLabels(to);
    const model = labels.filter((r) => r.source === 'model').length;
    expect(model).toBeGreaterThan(0);
    await expect
      .poll(() => page.getByTestId('export-model-note').textContent())
      .toMatch(new RegExp(`${model} of ${fx.n} labels are unreviewed model guesses`));
    const table = page.getByTestId('export-summary');
    for (const c of fx.classes) {
      const n = labels.filter((r) => r.final_label === c).length;
      const tr = table.locator(`tr[data-class="${c}"]`);
      await expect.poll(() => tr.locator('td').nth(1).textContent()).toContain(String(n));
      expect(fs.readdirSync(path.join(to, c))).toHaveLength(n);
    }
    await shot('export-summary');
    await page.keyboard.press('Escape');
  });

  it('a filter from Insights shows as a chip; Clear and Esc remove it', async () => {
    await openReview();
    const all = await matchCount();
    await openInsights('map');
    const map = page.getByTestId('embedding-map');
    await expect.poll(() => map.getAttribute('data-point-count'), { timeout: 20_000 }).toBe(String(fx.n));
    await page.getByTestId('map-mode-box').click();
    const box = (await page.locator('[data-testid=embedding-map] canvas').boundingBox())!;
    await page.mouse.move(box.x + 2, box.y + 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.55, box.y + box.height - 2, { steps: 10 });
    await page.mouse.up();
    const k = Number(await page.getByTestId('map-selected-count').getAttribute('data-count'));
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThan(all);
    await page.getByTestId('map-show-in-grid').click();
    await page.getByTestId('grid').waitFor();
    expect(await matchCount()).toBe(k);
    const chip = page.getByTestId('filter-chip');
    await expect.poll(() => chip.textContent()).toMatch(new RegExp(`${k} images? selected on the embedding map`));
    await shot('filter-chip');
    await page.getByTestId('filter-chip-clear').click();
    expect(await settledCount((n) => n === all)).toBe(all);
    expect(await chip.count()).toBe(0);
    // Again, and this time Esc (nothing selected) takes the filter off.
    await openInsights('map');
    await page.getByTestId('map-show-in-grid').click();
    expect(await settledCount((n) => n === k)).toBe(k);
    await page.getByTestId('grid').click({ position: { x: 4, y: 4 } });
    await page.keyboard.press('Escape');
    expect(await settledCount((n) => n === all)).toBe(all);
    expect(await chip.count()).toBe(0);
  });

  it('path and score filters apply as you type; clearing the box clears the filter', async () => {
    await openReview();
    const all = await matchCount();
    const box = page.getByTestId('filter-search');
    await typeInto('filter-search', 'sneaker'); // no Enter, no blur
    const some = await settledCount((n) => n < all);
    expect(some).toBe(30);
    await box.fill('');
    expect(await settledCount((n) => n === all)).toBe(all);
    const conf = page.getByTestId('filter-min-conf');
    await typeInto('filter-min-conf', '0.5');
    const high = await settledCount((n) => n < all);
    expect(high).toBeGreaterThan(0);
    await conf.fill('');
    expect(await settledCount((n) => n === all)).toBe(all);
  });

  it('the grid filter survives a reload', async () => {
    await openReview();
    await page.getByTestId('view-relabeled').click();
    const relabeled = await settledCount((x) => x < fx.n);
    const box = page.getByTestId('filter-search');
    await box.fill('coat');
    const n = await settledCount((x) => x > 0 && x < relabeled);
    await page.reload();
    await page.getByTestId('grid').waitFor();
    expect(await settledCount((x) => x === n)).toBe(n);
    expect(await page.getByTestId('view-relabeled').getAttribute('aria-selected')).toBe('true');
    expect(await page.getByTestId('filter-search').inputValue()).toBe('coat');
    await page.getByTestId('filter-clear-all').click();
    expect(await settledCount((x) => x === fx.n)).toBe(fx.n);
  });

  it('number keys: listed in the help and beside the class scores; 0 and O told apart; the caption follows an override', async () => {
    await openReview();
    await page.getByTestId('grid').click({ position: { x: 4, y: 4 } });
    await page.keyboard.press('Home');
    await page.keyboard.press('?');
    const help = page.getByTestId('help');
    await help.waitFor();
    const summary = await api('projects.get', { projectId: fx.projectId });
    for (let k = 0; k < summary.classes.length; k++) {
      await expect
        .poll(() => help.locator(`[data-testid=help-class-keys] [data-key="${k + 1}"]`).textContent())
        .toContain(summary.classes[k]);
    }
    const text = (await help.textContent()) ?? '';
    expect(text).toContain('0 (zero)');
    expect(text).toContain('O (letter)');
    await shot('help-keys');
    await page.keyboard.press('Escape');
    await expect
      .poll(() => page.getByTestId('detail').getByTestId('score-key').count(), { timeout: 10_000 })
      .toBe(summary.classes.length);
    // Override the focused image by number key to a class other than its own: its caption shows
    // the new label, not the model's.
    const cell = page.locator('[data-testid=cell][data-index="0"]');
    const id = Number(await cell.getAttribute('data-id'));
    const { given } = await api('samples.get', { projectId: fx.projectId, id });
    const k = (summary.classes.indexOf(given) + 1) % summary.classes.length;
    await page.keyboard.press(String(k + 1));
    await expect
      .poll(() => page.locator(`[data-testid=cell][data-id="${id}"]`).getByTestId('cell-target').textContent())
      .toBe(summary.classes[k]);
    await page.keyboard.press('Control+z');
    await expect.poll(() => page.getByTestId('reviewed-counter').textContent()).toMatch(/reviewed 0 of/);
  });

  it('near duplicates are near-identical by default, the limits are shown, and "keep this" is a duplicate decision', async () => {
    await openInsights('duplicates');
    const pair = page.getByTestId('dup-pair').first();
    await pair.waitFor({ timeout: 20_000 });
    // The planted copy is found; the look-alike (same embedding, pixels 10 levels apart) is not.
    expect(await page.getByTestId('dup-pair').count()).toBe(1);
    expect([await pair.getAttribute('data-a'), await pair.getAttribute('data-b')].sort()).toEqual(
      [fx.dup.a, fx.dup.b].sort(),
    );
    await expect
      .poll(() => page.getByTestId('dup-criteria').textContent())
      .toMatch(/cosine ≥ 0\.98.*hash ≤ \d+\/64.*pixels ≤ \d+\/255/s);
    // The limits are adjustable: allow 20 grey levels and the look-alike shows up too.
    await page.getByTestId('dup-max-pixel').fill('20');
    await page.getByTestId('dup-find').click();
    await expect.poll(() => page.getByTestId('dup-pair').count(), { timeout: 20_000 }).toBe(2);
    await page.getByTestId('dup-max-pixel').fill('2');
    await page.getByTestId('dup-find').click();
    await expect.poll(() => page.getByTestId('dup-pair').count(), { timeout: 20_000 }).toBe(1);
    await shot('duplicates');
    const keep = await pair.getAttribute('data-a');
    const drop = await pair.getAttribute('data-b');
    await pair.getByTestId('dup-keep').first().click();
    await expect.poll(() => page.getByTestId('reviewed-counter').textContent()).toMatch(/reviewed 1 of/);
    const { ids } = await api('samples.ids', { projectId: fx.projectId, filter: { view: 'reviewed' } });
    const d = await api('samples.get', { projectId: fx.projectId, id: ids[0] });
    expect(d.path).toBe(drop);
    expect(d.decision).toEqual({ kind: 'duplicate', of: keep });
    // Exported apart: listed as a duplicate, copied nowhere (not even to _ood/ with OOD images on).
    const to = path.join(tmp, 'copy-dups');
    await exportVia(to, 'copy', true);
    const row = readLabels(to).find((r) => r.path === drop)!;
    expect(row.source).toBe('duplicate');
    expect(row.final_label).toBe('');
    expect(fs.readdirSync(path.join(to, '_ood'))).not.toContain(path.basename(drop!));
    await expect
      .poll(() => page.locator('[data-testid=export-summary] tr[data-class="_duplicates"]').textContent())
      .toContain('1');
    await page.keyboard.press('Escape');
    await api('decisions.undo', { projectId: fx.projectId });
  });

  it('offers only backends that load, names runs meaningfully, renames and deletes runs', async () => {
    await page.getByTestId('tab-train').click();
    const options = await page.getByTestId('train-backend').locator('option').allTextContents();
    const req = createRequire(import.meta.url);
    const has = (p: string) => {
      try {
        req.resolve(p);
        return true;
      } catch {
        return false;
      }
    };
    const tfLoads = has('@tensorflow/tfjs-node') || has('@tensorflow/tfjs-node-gpu');
    expect(options.includes('tensorflow')).toBe(tfLoads);
    if (!tfLoads)
      await expect.poll(() => page.getByTestId('backend-missing').textContent()).toMatch(/tensorflow — not installed/);
    // Names: method, epochs, start time, not only the folder's timestamp.
    const item = page.locator(`[data-testid=run-item][data-run="${fx.runs.mopro}"]`);
    await expect
      .poll(() => item.getByTestId('run-name').textContent())
      .toMatch(/MoPro · 6 epochs · 2026-01-0\d \d\d:\d\d/);
    // Rename, and the name survives a reload.
    await item.getByTestId('run-rename').click();
    await item.getByTestId('run-rename-input').fill('first try');
    await item.getByTestId('run-rename-input').press('Enter');
    await expect.poll(() => item.getByTestId('run-name').textContent()).toMatch(/^\s*first try/);
    await page.reload();
    await page.getByTestId('tab-train').click();
    await expect
      .poll(() =>
        page.locator(`[data-testid=run-item][data-run="${fx.runs.mopro}"]`).getByTestId('run-name').textContent(),
      )
      .toMatch(/^\s*first try/);
    // The failed run can be deleted (the confirm dialog is accepted by the page's dialog handler).
    const dead = page.locator(`[data-testid=run-item][data-run="${FAILED_RUN}"]`);
    await expect.poll(() => dead.textContent()).toMatch(/failed/);
    await shot('runs');
    await dead.getByTestId('run-delete').click();
    await expect.poll(() => dead.count()).toBe(0);
    expect(fs.existsSync(path.join(runsDir(fx.dataDir, fx.projectId), FAILED_RUN))).toBe(false);
    expect(fs.existsSync(path.join(runsDir(fx.dataDir, fx.projectId), fx.runs.mopro))).toBe(true);
  });

  it('the Train panel labels final-pass counts, scales the loss chart and explains the prototype-loss step', async () => {
    await page.getByTestId('tab-train').click();
    await page.locator(`[data-testid=run-item][data-run="${fx.runs.mopro}"]`).getByTestId('run-name').click();
    await expect
      .poll(() => page.getByTestId('final-counts').textContent())
      .toMatch(/final pass: 90 clean · 20 relabeled · 11 OOD/);
    await expect.poll(() => page.getByTestId('final-pass-note').count()).toBe(1);
    expect(await page.getByTestId('run-backend').textContent()).toBe('synthetic');
    expect(await page.getByTestId('run-title').textContent()).toBe('first try');
    // Loss chart: y-axis numbers (0, half, max), and the step at epoch 2 explained.
    const loss = page.locator('figure.chart').first();
    expect(await loss.getByTestId('chart-tick').count()).toBe(3);
    await expect.poll(() => page.getByTestId('proto-note').textContent()).toMatch(/epoch 2/);
    await shot('train');
  });

  it('export before any run writes folder labels as source=given, not model', async () => {
    // Opened through the location hash (what a reload or a bookmark does).
    await page.goto(`${srv.url}#${new URLSearchParams({ project: plain, tab: 'train' })}`);
    await expect.poll(() => page.getByTestId('project-name').textContent(), { timeout: 15_000 }).toBe('plain');
    const to = path.join(tmp, 'plain-manifest');
    await exportVia(to, 'manifest');
    const labels = readLabels(to);
    expect(labels).toHaveLength(8);
    expect(new Set(labels.map((r) => r.source))).toEqual(new Set(['given']));
    for (const r of labels) expect(r.final_label).toBe(r.original_label);
    await expect.poll(() => page.getByTestId('export-model-note').textContent()).toMatch(/No unreviewed model guesses/);
    await page.keyboard.press('Escape');
  });

  it('"Open folder…" in the header and the start screen show errors next to the field', async () => {
    await page.getByTestId('open-folder').click();
    const missing = path.join(tmp, 'no-such-folder');
    await page.getByTestId('open-dialog-path').fill(missing);
    await page.getByTestId('open-dialog-submit').click();
    await expect.poll(() => page.getByTestId('open-dialog-error').textContent()).toContain('no-such-folder');
    await shot('open-dialog-error');
    await page.getByTestId('open-dialog-path').fill(fx.root);
    await page.getByTestId('open-dialog-submit').click();
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('dataset');
    // Start screen: the same error beside its own field.
    await page.getByRole('button', { name: 'Close', exact: true }).click();
    await page.getByTestId('open-path').fill(missing);
    await page.getByTestId('open-submit').click();
    await expect.poll(() => page.getByTestId('open-error').textContent()).toContain('no-such-folder');
  });
});
