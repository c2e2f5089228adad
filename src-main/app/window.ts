// Electron glue for the main window and its session: applies the policy of security.ts.
import { BrowserWindow, type Session, type WebContents } from 'electron';
import {
  isAllowedNavigation,
  originOf,
  permissionDecision,
  secureWebPreferences,
  windowOpenDecision,
} from './security';
import type { WindowState } from './window-state';

type Log = (msg: string) => void;

/** Blocks navigation, redirects away, new windows and <webview> on any WebContents. */
export function hardenWebContents(wc: WebContents, log: Log = () => {}): void {
  wc.setWindowOpenHandler(({ url }) => {
    log(`window.open refused: ${url.slice(0, 200)}`);
    return windowOpenDecision();
  });
  wc.on('will-navigate', (event, url) => {
    if (!isAllowedNavigation(wc.getURL(), url)) {
      event.preventDefault();
      log(`navigation refused: ${url.slice(0, 200)}`);
    }
  });
  wc.on('will-redirect', (event, url) => {
    if (!isAllowedNavigation(wc.getURL(), url)) event.preventDefault();
  });
  wc.on('will-attach-webview', (event) => event.preventDefault());
}

/**
 * Session-wide rules: every permission request/check denied, and the CSP header added to every
 * response of our own pages (the app scheme handler sets it too; this also covers the dev server).
 */
export function hardenSession(ses: Session, csp: string, pageOrigins: readonly string[]): void {
  ses.setPermissionRequestHandler((_wc, permission, callback) => callback(permissionDecision(permission)));
  ses.setPermissionCheckHandler((_wc, permission) => permissionDecision(permission));
  ses.webRequest.onHeadersReceived((details, callback) => {
    const origin = originOf(details.url);
    if (origin === null || !pageOrigins.includes(origin)) return callback({});
    const headers = { ...(details.responseHeaders ?? {}) };
    for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-security-policy') delete headers[k];
    headers['Content-Security-Policy'] = [csp];
    callback({ responseHeaders: headers });
  });
}

export interface MainWindowOptions {
  preload: string;
  state: WindowState;
  devTools: boolean;
  title: string;
  icon?: string;
  log?: Log;
}

export function createMainWindow(o: MainWindowOptions): BrowserWindow {
  const win = new BrowserWindow({
    x: o.state.x,
    y: o.state.y,
    width: o.state.width,
    height: o.state.height,
    minWidth: 720,
    minHeight: 480,
    show: false, // shown on ready-to-show: no white flash
    title: o.title,
    backgroundColor: '#1e1f22',
    ...(o.icon ? { icon: o.icon } : {}),
    webPreferences: secureWebPreferences(o.preload, { devTools: o.devTools }),
  });
  if (o.state.maximized) win.maximize();
  hardenWebContents(win.webContents, o.log);
  win.once('ready-to-show', () => win.show());
  return win;
}
