// A project open in two places, in Chromium: a separate `serve` process holds it; the page of a
// second server shows the "open elsewhere (pid …)" notice, follows the other's decisions and refuses
// its own with a visible error; once the first process is killed the notice goes and a decision goes through.
// Screenshot: test-results/open-elsewhere.png.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src-main/server/server';
import { canRunE2e, screenshot, startE2e, type E2eWorld } from './support';
import { makeDataset, syntheticRows, writeProjectRun } from '../fixtures/project';
import { projectIdFor } from '../../src-main/project/project';

let world: E2eWorld | undefined;
let other: ChildProcess;
let otherApi: { origin: string; token: string; projectId: string };
let srv: RunningServer;
let page: Page;

describe.runIf(canRunE2e('open-elsewhere'))('project open elsewhere, in Chromium', () => {
  beforeAll(async () => {
    world = await startE2e('mopro-elsewhere-e2e-', async (tmp) => {
      const root = path.join(tmp, 'ds');
      const dataDir = path.join(tmp, 'data');
      const files = await makeDataset(root, ['a', 'b'], 6);
      writeProjectRun(
        dataDir,
        projectIdFor(fs.realpathSync(root)),
        'r1',
        fs.realpathSync(root),
        ['a', 'b'],
        syntheticRows(files, ['a', 'b'], 2),
      );
      const env = { ...process.env, MOPRO_DATA_DIR: dataDir, MOPRO_CACHE_DIR: path.join(tmp, 'cache') };
      // The other process: a real, separate server that takes the project first.
      other = spawn(process.execPath, ['--import', 'tsx', path.resolve('src-main/server/main.ts'), '--dataset', root], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await new Promise<void>((resolve, reject) => {
        readline.createInterface({ input: other.stdout! }).once('line', (l) => {
          otherApi = JSON.parse(l);
          resolve();
        });
        other.once('exit', (c) => reject(new Error(`first server exited (${c})`)));
      });
      return { dataset: root, dataDir };
    });
    ({ srv, page } = world);
  });
  afterAll(async () => {
    if (other && other.exitCode === null && other.signalCode === null) other.kill('SIGKILL');
    await world?.close();
  });

  it('shows who has it, refuses a decision, and takes over once that process is gone', async () => {
    await page.goto(srv.url);
    const notice = page.getByTestId('open-elsewhere');
    await notice.waitFor({ timeout: 20_000 });
    expect(await notice.textContent()).toMatch(new RegExp(`open elsewhere \\(pid ${other.pid} on .+, since .+\\)`));
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
    const res = await fetch(`${otherApi.origin}/api/decisions.apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mopro-token': otherApi.token },
      body: JSON.stringify({
        projectId: otherApi.projectId,
        ids: [Number(await cell.getAttribute('data-id'))],
        action: { kind: 'ood' },
      }),
    });
    expect(res.status).toBe(200);
    await expect.poll(async () => cell.getByTestId('badge').textContent(), { timeout: 15_000 }).toBe('OOD');
    await screenshot(page, 'open-elsewhere');

    other.kill('SIGKILL');
    await once(other, 'exit');
    await notice.waitFor({ state: 'detached', timeout: 20_000 }); // the page looks again every few seconds
    await cell.click();
    await page.keyboard.press('k');
    await expect.poll(async () => cell.getByTestId('badge').textContent(), { timeout: 10_000 }).toBe('kept');
  });
});
