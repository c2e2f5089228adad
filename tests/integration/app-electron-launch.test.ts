// Launches the real desktop app through Playwright's Electron support: the window opens on our
// app scheme with the security settings in force, the bundled sample opens, the thumbnail grid
// shows images served by the mopro-img:// protocol. Needs the Electron binary (and, on Linux, a
// display); where either is missing it says so and is reported as SKIPPED, never as passed.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { _electron, type ElectronApplication } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');

function electronBinary(): { path: string } | { why: string } {
  try {
    const p = createRequire(import.meta.url)('electron') as unknown;
    if (typeof p === 'string' && fs.existsSync(p)) return { path: p };
    return { why: `electron package points at ${String(p)}, which does not exist` };
  } catch (e) {
    return { why: `require('electron') failed: ${String((e as Error).message).split('\n')[0]}` };
  }
}

const bin = electronBinary();
const noDisplay = process.platform === 'linux' && !process.env['DISPLAY'] && !process.env['WAYLAND_DISPLAY'];
const notRun =
  'why' in bin
    ? `no Electron binary (${bin.why}; install it with \`node node_modules/electron/install.js\`)`
    : noDisplay
      ? 'no display (set DISPLAY, e.g. run under xvfb-run)'
      : null;
if (notRun) console.log(`Electron launch test NOT RUN: ${notRun}`);

let app: ElectronApplication | null = null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-electron-'));
afterAll(async () => {
  await app?.close().catch(() => {});
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('Electron app', () => {
  it.skipIf(notRun !== null)(
    'opens a secure window, opens the sample and shows the grid',
    async () => {
      const builtPreload = ['index.cjs', 'index.js']
        .map((f) => path.join(root, 'out', 'preload', f))
        .find((f) => fs.existsSync(f));
      expect(fs.existsSync(path.join(root, 'out', 'main', 'index.js')), 'run `npm run build` first').toBe(true);
      expect(
        builtPreload,
        'a CommonJS preload (out/preload/index.cjs): the sandbox cannot load an ES-module preload',
      ).toBeTruthy();

      app = await _electron.launch({
        executablePath: (bin as { path: string }).path,
        args: [root],
        cwd: root,
        env: {
          ...process.env,
          MOPRO_DATA_DIR: path.join(tmp, 'data'),
          MOPRO_CACHE_DIR: path.join(tmp, 'cache'),
        } as Record<string, string>,
        timeout: 60_000,
      });
      const page = await app.firstWindow();
      await page.waitForLoadState('domcontentloaded');
      expect(page.url()).toMatch(/^mopro-app:\/\/app\//);

      // No Node in the page; the bridge has exactly the agreed shape.
      const seen = await page.evaluate(() => {
        const g = globalThis as any;
        return { require: typeof g.require, process: typeof g.process, keys: Object.keys(g.mopro ?? {}).sort() };
      });
      expect(seen.require).toBe('undefined');
      expect(seen.process).toBe('undefined');
      expect(seen.keys).toEqual(['call', 'imageUrl', 'on', 'onCommand', 'pickFolder', 'pickSaveFolder', 'platform']);

      // Navigation away is refused: the page stays on our scheme.
      await page
        .evaluate(() => {
          (globalThis as any).location.href = 'https://example.com/';
        })
        .catch(() => {});
      await page.waitForTimeout(500);
      expect(page.url()).toMatch(/^mopro-app:\/\/app\//);

      // window.open is denied: still one window.
      await page.evaluate(() => (globalThis as any).open('https://example.com/'));
      expect(app.windows()).toHaveLength(1);

      await page.click('[data-testid="open-sample"]');
      const firstThumb = page.locator('[data-testid="grid"] [data-testid="cell"] img').first();
      await firstThumb.waitFor({ state: 'visible', timeout: 60_000 });
      expect(await firstThumb.getAttribute('src')).toMatch(/^mopro-img:\/\/image\/thumb\?/);
      await page.waitForFunction(
        (el) => (el as any).complete && (el as any).naturalWidth > 0,
        await firstThumb.elementHandle(),
        { timeout: 30_000 },
      );
      fs.mkdirSync(path.join(root, 'test-results'), { recursive: true });
      await page.screenshot({ path: path.join(root, 'test-results', 'electron-grid.png') });
    },
    180_000,
  );
});
