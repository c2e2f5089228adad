// `npm start` in browser mode: spawn scripts/start.mjs, wait for the printed URL, fetch the page
// and the API with the token, then Ctrl-C it and see it exit. Where an Electron binary exists the
// script is forced into browser mode (--browser), so this path is tested on every machine.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');

function electronInstalled(): boolean {
  try {
    const p = createRequire(import.meta.url)('electron') as unknown;
    return typeof p === 'string' && fs.existsSync(p);
  } catch {
    return false;
  }
}

let child: ChildProcess | null = null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-start-'));
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('npm start (browser mode)', () => {
  it('prints the URL with a token, serves the UI and the API, and stops on Ctrl-C', async () => {
    const hasElectron = electronInstalled();
    const args = [path.join(root, 'scripts', 'start.mjs'), '--port', '0', ...(hasElectron ? ['--browser'] : [])];
    child = spawn(process.execPath, args, {
      cwd: root,
      env: {
        ...process.env,
        MOPRO_DATA_DIR: path.join(tmp, 'data'),
        MOPRO_CACHE_DIR: path.join(tmp, 'cache'),
        MOPRO_FORCE_BROWSER: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no URL within 90 s; output:\n${out}`)), 90_000);
      const check = () => {
        const m = /running in browser mode at (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      };
      child!.stdout!.on('data', check);
      child!.on('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`start.mjs exited (${code}) before printing a URL:\n${out}`));
      });
    });
    if (!hasElectron)
      expect(out).toMatch(
        /^Electron binary not installed \(.+\); running in browser mode at http:\/\/127\.0\.0\.1:\d+\/\?token=/m,
      );
    else expect(out).toContain('Browser mode requested');

    const token = new URL(url).searchParams.get('token');
    expect(token).toBeTruthy();
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<div id="app">');

    const origin = new URL(url).origin;
    const info = await fetch(`${origin}/api/app.info`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mopro-token': token! },
      body: '{}',
    });
    expect(info.status).toBe(200);
    const body = (await info.json()) as { mode: string; sampleDataset: string | null };
    expect(body.mode).toBe('browser');
    // The bundled sample is what npm start opens by default.
    const recent = await fetch(`${origin}/api/projects.recent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mopro-token': token! },
      body: '{}',
    });
    const list = (await recent.json()) as { path: string }[];
    expect(list.map((r) => r.path)).toContain(path.join(root, 'resources', 'sample'));
    // Without the token the API refuses.
    expect((await fetch(`${origin}/api/app.info`, { method: 'POST', body: '{}' })).status).toBe(401);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
    expect(code).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  }, 150_000);
});
