// Window security with 'electron' replaced by a test double: the exact webPreferences list,
// navigation / window.open / permission handlers that deny, the CSP, and the window-state clamp.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', async () => (await import('./electron-double')).electronDouble());

import { FakeBrowserWindow, FakeSession, FakeWebContents } from './electron-double';
import { createMainWindow, hardenSession, hardenWebContents } from './window';
import {
  APP_INDEX_URL,
  contentSecurityPolicy,
  isAllowedNavigation,
  isTrustedUrl,
  originOf,
  privilegedSchemes,
  trustedOrigins,
} from './security';
import { clampToDisplays, loadWindowState, saveWindowState, DEFAULT_SIZE, MIN_SIZE } from './window-state';
import { buildMenuTemplate } from './menu';
import { closeChoice, closeDialog, TrainingTracker } from './training-guard';

const STATE = { x: 10, y: 20, width: 1000, height: 700, maximized: false };

describe('main window', () => {
  beforeEach(() => void (FakeBrowserWindow.created.length = 0));

  it('has exactly the security list as webPreferences', () => {
    createMainWindow({ preload: '/app/out/preload/index.cjs', state: STATE, devTools: false, title: 'MoPro Studio' });
    const w = FakeBrowserWindow.created[0]!;
    expect(w.options.webPreferences).toEqual({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: false,
    });
    expect(w.options).toMatchObject({ x: 10, y: 20, width: 1000, height: 700, show: false });
    expect(w.maximized).toBe(false);
    // The window's own contents are hardened at creation, not only via web-contents-created.
    expect(w.webContents.windowOpenHandler).not.toBeNull();
  });

  it('restores the maximized state', () => {
    createMainWindow({ preload: '/p.cjs', state: { ...STATE, maximized: true }, devTools: true, title: 't' });
    expect(FakeBrowserWindow.created[0]!.maximized).toBe(true);
    expect(FakeBrowserWindow.created[0]!.options.webPreferences.devTools).toBe(true);
  });
});

describe('web contents handlers', () => {
  it('deny every window.open', () => {
    const wc = new FakeWebContents();
    hardenWebContents(wc as any);
    for (const url of [
      'https://example.com',
      APP_INDEX_URL,
      'mopro-app://app/other.html',
      'file:///etc/passwd',
      'javascript:alert(1)',
    ]) {
      expect(wc.windowOpenHandler!({ url })).toEqual({ action: 'deny' });
    }
  });

  it('block navigation and redirects away from the page, allow only a reload of the same URL', () => {
    const wc = new FakeWebContents();
    hardenWebContents(wc as any);
    for (const url of [
      'https://evil.example/',
      'file:///etc/passwd',
      'mopro-app://app/other.html',
      'mopro-img://image/full?project=p&path=a.png',
      'data:text/html,hi',
    ]) {
      expect(wc.emit('will-navigate', url), url).toBe(true);
      expect(wc.emit('will-redirect', url), url).toBe(true);
    }
    expect(wc.emit('will-navigate', APP_INDEX_URL)).toBe(false);
    expect(wc.emit('will-navigate', `${APP_INDEX_URL}#/review`)).toBe(false);
    expect(wc.emit('will-attach-webview', {}, {})).toBe(true);
  });

  it('deny every permission request and check; put our CSP on our pages only', () => {
    const ses = new FakeSession();
    const csp = contentSecurityPolicy();
    hardenSession(ses as any, csp, trustedOrigins());
    for (const p of [
      'media',
      'geolocation',
      'notifications',
      'clipboard-read',
      'openExternal',
      'fullscreen',
      'hid',
      'serial',
    ]) {
      let answer: boolean | undefined;
      ses.permissionRequestHandler!({}, p, (ok: boolean) => (answer = ok));
      expect(answer, p).toBe(false);
      expect(ses.permissionCheckHandler!({}, p), p).toBe(false);
    }
    let out: any;
    ses.headersReceived!(
      { url: APP_INDEX_URL, responseHeaders: { 'content-security-policy': ['default-src *'] } },
      (r: any) => (out = r),
    );
    expect(out.responseHeaders).toEqual({ 'Content-Security-Policy': [csp] });
    ses.headersReceived!({ url: 'https://example.com/', responseHeaders: {} }, (r: any) => (out = r));
    expect(out).toEqual({});
  });
});

describe('security policy', () => {
  it('CSP allows scripts only from self, no eval, images from the image scheme, no frames/objects', () => {
    const csp = contentSecurityPolicy();
    const d = Object.fromEntries(csp.split('; ').map((x) => [x.split(' ')[0], x.split(' ').slice(1)]));
    expect(d['default-src']).toEqual(["'none'"]);
    expect(d['script-src']).toEqual(["'self'"]);
    expect(csp).not.toContain('unsafe-eval');
    expect(d['img-src']).toContain('mopro-img:');
    expect(d['connect-src']).toEqual(["'self'"]);
    expect(d['object-src']).toEqual(["'none'"]);
    expect(d['frame-ancestors']).toEqual(["'none'"]);
    expect(d['base-uri']).toEqual(["'none'"]);
    const dev = contentSecurityPolicy({ devServerUrl: 'http://localhost:5173/' });
    expect(dev).toContain("connect-src 'self' http://localhost:5173 ws://localhost:5173");
  });

  it('custom schemes are standard + secure, not CSP-bypassing', () => {
    for (const s of privilegedSchemes()) {
      expect(s.privileges).toMatchObject({ standard: true, secure: true });
      expect(s.privileges).not.toHaveProperty('bypassCSP');
    }
  });

  it('origins compare parsed, not by prefix', () => {
    expect(originOf('mopro-app://app/x/y.html?q#h')).toBe('mopro-app://app');
    expect(originOf('file:///x')).toBeNull();
    expect(originOf('data:text/html,x')).toBeNull();
    expect(originOf('not a url')).toBeNull();
    expect(isTrustedUrl('mopro-app://app.evil/index.html', trustedOrigins())).toBe(false);
    expect(isTrustedUrl('mopro-app://app:8080/index.html', trustedOrigins())).toBe(false);
    expect(isAllowedNavigation('file:///a.html', 'file:///a.html')).toBe(false);
  });
});

describe('window state', () => {
  const primary = { x: 0, y: 0, width: 1920, height: 1040 };
  const second = { x: 1920, y: 0, width: 1280, height: 1000 };

  it('keeps a window that is on a display', () => {
    expect(
      clampToDisplays({ x: 100, y: 50, width: 1200, height: 800, maximized: true }, [primary, second], primary),
    ).toEqual({ x: 100, y: 50, width: 1200, height: 800, maximized: true });
    expect(clampToDisplays({ x: 2000, y: 10, width: 1000, height: 700 }, [primary, second], primary)).toEqual({
      x: 2000,
      y: 10,
      width: 1000,
      height: 700,
      maximized: false,
    });
  });

  it('re-centres a window whose monitor is gone', () => {
    const s = clampToDisplays({ x: 2000, y: 10, width: 1000, height: 700 }, [primary], primary);
    expect(s).toEqual({ x: 460, y: 170, width: 1000, height: 700, maximized: false });
  });

  it('shrinks an oversized window to the display and pulls it fully inside', () => {
    const s = clampToDisplays({ x: -50, y: 900, width: 3000, height: 2000 }, [primary], primary);
    expect(s).toEqual({ x: 0, y: 0, width: 1920, height: 1040, maximized: false });
  });

  it('uses defaults for missing or garbage state, and enforces the minimum size', () => {
    expect(clampToDisplays(null, [primary], primary)).toMatchObject({ ...DEFAULT_SIZE, maximized: false });
    expect(clampToDisplays({ x: NaN, y: 'a' as any, width: -5, height: Infinity }, [primary], primary)).toMatchObject(
      DEFAULT_SIZE,
    );
    expect(clampToDisplays({ x: 10, y: 10, width: 10, height: 10 }, [primary], primary)).toMatchObject(MIN_SIZE);
  });

  it('saves and loads, and treats a corrupt file as no state', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-winstate-'));
    const file = path.join(dir, 'sub', 'window-state.json');
    expect(loadWindowState(file)).toBeNull();
    await saveWindowState(file, { ...STATE });
    expect(loadWindowState(file)).toEqual(STATE);
    fs.writeFileSync(file, '{"x": 1, "y"');
    expect(loadWindowState(file)).toBeNull();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('menu', () => {
  const actions = () => ({
    openFolder: vi.fn(),
    openRecent: vi.fn(),
    exportDataset: vi.fn(),
    undo: vi.fn(),
    redo: vi.fn(),
    shortcuts: vi.fn(),
    about: vi.fn(),
    openDataFolder: vi.fn(),
    quit: vi.fn(),
  });
  const find = (items: any[], label: string): any => {
    for (const i of items) {
      if (i.label === label) return i;
      if (Array.isArray(i.submenu)) {
        const f = find(i.submenu, label);
        if (f) return f;
      }
    }
    return null;
  };

  it('has Open Folder, Recent, Export, Undo/Redo, View and Help, wired to the actions', () => {
    const a = actions();
    const t = buildMenuTemplate(a, {
      platform: 'linux',
      recent: [{ path: '/d/birds', name: 'birds' }],
      devTools: false,
      appName: 'MoPro Studio',
    });
    expect(t.map((m) => m.label)).toEqual(['File', 'Edit', 'View', 'Help']);
    find(t, 'Open Folder…').click();
    expect(a.openFolder).toHaveBeenCalled();
    find(t, 'birds — /d/birds').click();
    expect(a.openRecent).toHaveBeenCalledWith('/d/birds');
    find(t, 'Export Cleaned Dataset…').click();
    expect(a.exportDataset).toHaveBeenCalled();
    const undo = find(t, 'Undo Decision');
    expect(undo.registerAccelerator).toBe(false); // Ctrl+Z must still reach the page
    undo.click();
    find(t, 'Redo Decision').click();
    expect(a.undo).toHaveBeenCalledTimes(1);
    expect(a.redo).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(t)).not.toContain('toggleDevTools');
  });

  it('macOS gets the app menu; dev builds get dev tools; empty recent list is disabled', () => {
    const t = buildMenuTemplate(actions(), { platform: 'darwin', recent: [], devTools: true, appName: 'MoPro Studio' });
    expect(t[0]!.label).toBe('MoPro Studio');
    expect(find(t, 'No recent folders').enabled).toBe(false);
    expect(JSON.stringify(t)).toContain('toggleDevTools');
  });
});

describe('closing while training', () => {
  it('tracks live runs from events and start results', async () => {
    const t = new TrainingTracker();
    t.onStarted('r1');
    t.onEvent({ type: 'train.epoch', runId: 'r2', stats: {} as any });
    expect(t.running().sort()).toEqual(['r1', 'r2']);
    const idle = t.idle(5_000);
    t.onEvent({ type: 'train.done', runId: 'r1', state: 'stopped' });
    expect(t.running()).toEqual(['r2']);
    t.onEvent({ type: 'train.done', runId: 'r2', state: 'done' });
    expect(await idle).toBe(true);
    expect(await t.idle(1)).toBe(true);
  });

  it('idle() times out with false while a run goes on', async () => {
    const t = new TrainingTracker();
    t.onStarted('r1');
    expect(await t.idle(20)).toBe(false);
  });

  it('asks stop / keep in background / cancel', () => {
    const d = closeDialog(2);
    expect(d.buttons).toHaveLength(3);
    expect(d.message).toContain('2 training runs');
    expect([0, 1, 2, 99].map(closeChoice)).toEqual(['stop', 'background', 'cancel', 'cancel']);
    expect(d.cancelId).toBe(2);
  });
});
