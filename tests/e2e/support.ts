// What the browser suites share: their world (a temporary folder, `mopro serve` on the built UI, headless Chromium),
// screenshots, the API called directly (to set up or check state) and the grid's match count.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { startServer, type RunningServer, type StartServerOptions } from '../../src-main/server/server';
import type { MethodName, MethodResult } from '../../src-shared/contract';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const STATIC = process.env.MOPRO_STATIC_DIR || path.resolve('out/renderer');
const SHOTS = path.resolve('test-results');

/** Whether the browser suites can run here; when not, the suite says why (a skipped suite must not pass silently). */
export function canRunE2e(suite: string): boolean {
  const haveChromium = fs.existsSync(CHROMIUM);
  const haveUi = fs.existsSync(path.join(STATIC, 'index.html'));
  if (!haveChromium) console.log(`${suite} e2e: NOT RUN — no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  if (!haveUi) console.log(`${suite} e2e: NOT RUN — no built UI at ${STATIC} (npx electron-vite build)`);
  return haveChromium && haveUi;
}

export interface E2eWorld {
  /** The suite's temporary folder (removed by close()). */
  tmp: string;
  srv: RunningServer;
  page: Page;
  /** The page's uncaught errors, in order (each one is logged as well). */
  pageErrors: string[];
  close(): Promise<void>;
}

/**
 * A suite's world: a new temporary folder `prefix`*, where `prepare` builds the suite's data and returns the
 * server's options (dataDir and cacheDir default to <tmp>/data and <tmp>/cache); then `mopro serve` (startServer)
 * on the built UI and a page in headless Chromium. Whatever was started is closed again if a step fails.
 */
export async function startE2e(
  prefix: string,
  prepare: (tmp: string) => StartServerOptions | Promise<StartServerOptions> = () => ({}),
  viewport = { width: 1280, height: 800 },
): Promise<E2eWorld> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  let srv: RunningServer | undefined;
  let browser: Browser | undefined;
  const close = async (): Promise<void> => {
    await browser?.close();
    await srv?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const opts = await prepare(tmp);
    srv = await startServer({
      port: 0,
      dataDir: path.join(tmp, 'data'),
      cacheDir: path.join(tmp, 'cache'),
      staticDir: STATIC,
      ...opts,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const page = await browser.newPage({ viewport });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => {
      pageErrors.push(e.message);
      console.log('page error:', e.message);
    });
    return { tmp, srv, page, pageErrors, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** A screenshot of the page as test-results/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

export async function callApi<M extends MethodName>(
  srv: RunningServer,
  method: M,
  body: object,
): Promise<MethodResult<M>> {
  const res = await fetch(`${srv.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mopro-token': srv.token },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(json)}`);
  return json as MethodResult<M>;
}

/** The "N shown" count above the grid, once it shows a number. */
export async function matchCount(page: Page): Promise<number> {
  const el = page.getByTestId('match-count');
  await expect.poll(async () => (await el.textContent())?.trim() ?? '…', { timeout: 15_000 }).toMatch(/^[\d,]+ shown$/);
  return Number((await el.textContent())!.replace(/[^\d]/g, ''));
}
