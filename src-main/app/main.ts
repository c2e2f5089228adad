// Electron main process: wires the API service, IPC, protocols, window, menu and dialogs.
// The policy lives in small pure modules (security, image-url, protocol, ipc, window-state,
// menu, training-guard); this file only connects them to Electron.
import fs from 'node:fs';
import path from 'node:path';
import {
  app,
  BrowserWindow,
  dialog,
  Menu,
  Notification,
  protocol,
  screen,
  session,
  shell,
  utilityProcess,
} from 'electron';
import type { ApiEvent, MethodResults } from '../../src-shared/contract';
import { createService } from '../api/service';
import type { ApiService } from '../api/service-types';
import { appDataDir, appRoot, cacheDir } from '../paths';
import { registerIpc, sendCommand, sendEvent } from './ipc';
import type { AppCommand } from './ipc-channels';
import { utilityProcessSpawner } from './engine-process';
import { buildMenuTemplate } from './menu';
import { createAppFileHandler, createImageHandler } from './protocol';
import {
  APP_INDEX_URL,
  APP_SCHEME,
  IMG_SCHEME,
  contentSecurityPolicy,
  privilegedSchemes,
  trustedOrigins,
} from './security';
import { closeChoice, closeDialog, TrainingTracker } from './training-guard';
import { hardenSession, hardenWebContents, createMainWindow } from './window';
import {
  clampToDisplays,
  loadWindowState,
  saveWindowStateSync,
  windowStateFile,
  type WindowState,
} from './window-state';

const APP_NAME = 'MoPro Studio';
// The build output: <root>/out/{main,preload,renderer} (root is app.asar when packaged).
const outDir = path.join(appRoot(), 'out');
// electron-vite dev sets ELECTRON_RENDERER_URL; a packaged app never trusts it.
const devServerUrl = !app.isPackaged ? process.env['ELECTRON_RENDERER_URL'] : undefined;
const devTools = !app.isPackaged;
const log = (msg: string) => console.log(`[mopro] ${msg}`);

// Must happen before 'ready'.
protocol.registerSchemesAsPrivileged(privilegedSchemes());
app.enableSandbox();

let win: BrowserWindow | null = null;
let service: ApiService | null = null;
let backgrounded = false; // window hidden by "keep training in the background"
let closeConfirmed = false;
let disposed = false;
const tracker = new TrainingTracker();

function preloadPath(): string {
  const dir = path.join(outDir, 'preload');
  for (const name of ['index.cjs', 'index.js']) if (fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  // An ES-module preload cannot run in a sandboxed renderer: the bridge would be missing.
  log(`WARNING: no CommonJS preload in ${dir}; set the preload output format to 'cjs' in electron.vite.config.ts`);
  return path.join(dir, 'index.mjs');
}

function command(c: AppCommand): void {
  if (!win) return;
  if (win.isMinimized()) win.restore();
  if (!win.isVisible()) win.show();
  sendCommand(win.webContents, c);
}

function emit(e: ApiEvent): void {
  tracker.onEvent(e);
  sendEvent(win?.webContents, e);
  if (e.type === 'train.done' && backgrounded && tracker.running().length === 0) {
    // The user closed the window and let training finish: tell them, then quit for real.
    if (Notification.isSupported()) {
      new Notification({
        title: APP_NAME,
        body: `Training finished (${e.state}). Open ${APP_NAME} to review the results.`,
      }).show();
    }
    closeConfirmed = true;
    app.quit();
  }
}

async function refreshMenu(): Promise<void> {
  let recent: MethodResults['projects.recent'] = [];
  try {
    recent = (await service?.call('projects.recent', {})) as MethodResults['projects.recent'];
  } catch (e) {
    log(`recent list unavailable: ${(e as Error).message}`);
  }
  const template = buildMenuTemplate(
    {
      openFolder: () => void pickFolder().then((p) => p && command({ type: 'open-path', path: p })),
      openRecent: (p) => command({ type: 'open-path', path: p }),
      exportDataset: () => command({ type: 'export' }),
      undo: () => command({ type: 'undo' }),
      redo: () => command({ type: 'redo' }),
      shortcuts: () => command({ type: 'shortcuts' }),
      about: () => void showAbout(),
      openDataFolder: () => void shell.openPath(appDataDir()),
      quit: () => app.quit(),
    },
    { platform: process.platform, recent, devTools, appName: APP_NAME },
  );
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

async function pickFolder(): Promise<string | null> {
  const opts = { title: 'Open a dataset folder (one sub-folder per class)', properties: ['openDirectory' as const] };
  const r = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts);
  return r.canceled ? null : (r.filePaths[0] ?? null);
}

async function pickSaveFolder(suggestedName?: string): Promise<string | null> {
  const opts = {
    title: 'Export the cleaned dataset to a new folder',
    buttonLabel: 'Export Here',
    defaultPath: path.join(app.getPath('documents'), suggestedName || 'cleaned-dataset'),
    properties: ['createDirectory' as const, 'showOverwriteConfirmation' as const],
  };
  const r = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts);
  return r.canceled || !r.filePath ? null : r.filePath;
}

async function onDropped(p: string): Promise<void> {
  try {
    const st = await fs.promises.stat(p);
    if (st.isDirectory()) command({ type: 'open-path', path: p });
    else
      command({
        type: 'error',
        message: `${path.basename(p)} is a file: drop a dataset folder (one sub-folder per class).`,
      });
  } catch {
    command({ type: 'error', message: `Cannot open ${p}: it no longer exists or cannot be read.` });
  }
}

async function showAbout(): Promise<void> {
  const opts = {
    type: 'info' as const,
    title: `About ${APP_NAME}`,
    message: `${APP_NAME} ${app.getVersion()}`,
    detail:
      'Clean a noisy image dataset with MoPro (momentum prototypes) and review the suggested corrections.\n\n' +
      `Electron ${process.versions.electron} · Chromium ${process.versions.chrome} · Node ${process.versions.node}\n` +
      `Data folder: ${appDataDir()}\nCache folder: ${cacheDir()}`,
  };
  if (win) await dialog.showMessageBox(win, opts);
  else await dialog.showMessageBox(opts);
}

function currentState(w: BrowserWindow): WindowState {
  const b = w.getNormalBounds();
  return { ...b, maximized: w.isMaximized() };
}

function openWindow(): void {
  const stateFile = windowStateFile(appDataDir());
  const primary = screen.getPrimaryDisplay().workArea;
  const state = clampToDisplays(
    loadWindowState(stateFile),
    screen.getAllDisplays().map((d) => d.workArea),
    primary,
  );
  const w = createMainWindow({ preload: preloadPath(), state, devTools, title: APP_NAME, log });
  win = w;

  w.on('close', (event) => {
    try {
      saveWindowStateSync(stateFile, currentState(w));
    } catch (e) {
      log(`could not save the window state: ${(e as Error).message}`);
    }
    const running = tracker.running();
    if (closeConfirmed || running.length === 0) return;
    event.preventDefault();
    const choice = closeChoice(dialog.showMessageBoxSync(w, closeDialog(running.length)));
    if (choice === 'background') {
      backgrounded = true;
      w.hide();
      log(`window hidden; ${running.length} training run(s) continue in the background`);
    } else if (choice === 'stop') {
      void stopTrainingThenQuit(running);
    }
  });
  w.on('closed', () => {
    win = null;
  });

  void w.loadURL(devServerUrl ?? APP_INDEX_URL);
}

async function stopTrainingThenQuit(runIds: string[]): Promise<void> {
  for (const runId of runIds) {
    try {
      await service?.call('train.stop', { runId });
    } catch (e) {
      log(`train.stop ${runId} failed: ${(e as Error).message}`);
    }
  }
  // The engine writes a checkpoint before it reports train.done; give it time, but never hang.
  const idle = await tracker.idle(120_000);
  if (!idle)
    log('training did not confirm the stop within 2 minutes; quitting anyway (resume uses the last checkpoint)');
  closeConfirmed = true;
  app.quit();
}

async function start(): Promise<void> {
  await app.whenReady();
  const csp = contentSecurityPolicy({ devServerUrl });
  const origins = trustedOrigins(devServerUrl);

  service = createService({
    mode: 'electron',
    dataDir: appDataDir(),
    cacheDir: cacheDir(),
    emit,
    spawnJob: utilityProcessSpawner(utilityProcess),
  });
  const svc = service;

  hardenSession(session.defaultSession, csp, origins);
  app.on('web-contents-created', (_e, wc) => hardenWebContents(wc, log));
  protocol.handle(IMG_SCHEME, createImageHandler(svc, log));
  protocol.handle(APP_SCHEME, createAppFileHandler(path.join(outDir, 'renderer'), csp, log));

  registerIpc({
    service: svc,
    origins: () => origins,
    log,
    onResult: (method, _input, result) => {
      if (method === 'projects.open') void refreshMenu();
      if (method === 'train.start' || method === 'train.resume') tracker.onStarted((result as { runId: string }).runId);
    },
    pickFolder,
    pickSaveFolder,
    onDropped: (p) => void onDropped(p),
  });

  await refreshMenu();
  openWindow();

  app.on('activate', () => {
    // macOS dock click: bring back the hidden window or make a new one.
    if (win) {
      backgrounded = false;
      win.show();
    } else openWindow();
  });
}

if (!app.requestSingleInstanceLock()) {
  // Another instance owns the data folder and journals: hand over to it (it shows its window).
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!win) return openWindow();
    backgrounded = false;
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('before-quit', (event) => {
    const w = win;
    // Quitting from the menu (Ctrl+Q / Cmd+Q) while training: run the same close question.
    if (!closeConfirmed && tracker.running().length > 0 && w && !backgrounded) {
      event.preventDefault();
      w.close();
    }
  });
  app.on('will-quit', (event) => {
    if (disposed || !service) return;
    // Flush journals and stop workers before the process goes.
    event.preventDefault();
    disposed = true;
    void service
      .dispose()
      .catch((e) => log(`dispose failed: ${(e as Error).message}`))
      .finally(() => app.quit());
  });
  start().catch((e) => {
    log(`startup failed: ${(e as Error)?.stack ?? e}`);
    dialog.showErrorBox(APP_NAME, `MoPro Studio could not start: ${(e as Error)?.message ?? e}`);
    app.exit(1);
  });
}
