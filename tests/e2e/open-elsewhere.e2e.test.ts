// A project open in two places, in Chromium: a separate `serve` process holds it; the page of a
// second server shows the "open elsewhere (pid …)" notice, follows the other's decisions and refuses
// its own with a visible error; once the first process is killed the notice goes and a decision goes through.
// Screenshot: test-results/open-elsewhere.png.
import { once } from 'node:events';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src-main/server/server';
import { canRunE2e, screenshot, startE2e, type E2eWorld } from './support';
import { makeServedProject, postApi, spawnServe, type ServeChild } from '../fixtures/serve-process';

let world: E2eWorld | undefined;
let other: ServeChild | undefined;
let srv: RunningServer;
let page: Page;

describe.runIf(canRunE2e('open-elsewhere'))('project open elsewhere, in Chromium', () => {
  beforeAll(async () => {
    world = await startE2e('mopro-elsewhere-e2e-', async (tmp) => {
      const project = await makeServedProject(tmp, 6, 2);
      // The other process: a real, separate server that takes the project first.
      other = await spawnServe(project);
      return { dataset: project.root, dataDir: project.dataDir };
    });
    ({ srv, page } = world);
  });
  afterAll(async () => {
    if (other && other.proc.exitCode === null && other.proc.signalCode === null) other.proc.kill('SIGKILL');
    await world?.close();
  });

  it('shows who has it, refuses a decision, and takes over once that process is gone', async () => {
    await page.goto(srv.url);
    const notice = page.getByTestId('open-elsewhere');
    await notice.waitFor({ timeout: 20_000 });
    expect(await notice.textContent()).toMatch(
      new RegExp(`open elsewhere \\(pid ${other!.proc.pid} on .+, since .+\\)`),
    );
    await page.getByTestId('tab-review').click();
    const cell = page.locator('[data-testid=cell][data-index="0"]');
    await cell.waitFor({ timeout: 20_000 });
    await cell.click();
    await page.keyboard.press('k');
    const err = page.getByTestId('notice-error');
    await err.first().waitFor({ timeout: 10_000 });
    expect(await err.first().textContent()).toMatch(/read-only here because it is open elsewhere/);
    expect(await cell.getByTestId('badge').count()).toBe(0);
    // The other process decides: this page follows (it looks again every few seconds).
    const res = await postApi(other!, 'decisions.apply', {
      projectId: other!.projectId,
      ids: [Number(await cell.getAttribute('data-id'))],
      action: { kind: 'ood' },
    });
    expect(res.status).toBe(200);
    await expect.poll(async () => cell.getByTestId('badge').textContent(), { timeout: 15_000 }).toBe('OOD');
    await screenshot(page, 'open-elsewhere');

    other!.proc.kill('SIGKILL');
    await once(other!.proc, 'exit');
    await notice.waitFor({ state: 'detached', timeout: 20_000 }); // the page looks again every few seconds
    await cell.click();
    await page.keyboard.press('k');
    await expect.poll(async () => cell.getByTestId('badge').textContent(), { timeout: 10_000 }).toBe('kept');
  });
});
