// The application menu as a pure template builder; main.ts turns it into a Menu. Actions that
// belong to the review workspace (open, export, undo/redo, shortcuts) are sent to the renderer
// as AppCommands, so the menu and the keyboard take the same code path.
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  openFolder: () => void; //       native dialog, then an 'open-path' command
  openRecent: (path: string) => void;
  exportDataset: () => void;
  undo: () => void;
  redo: () => void;
  shortcuts: () => void;
  about: () => void;
  openDataFolder: () => void;
  quit: () => void;
}

export interface MenuOptions {
  platform: NodeJS.Platform;
  recent: { path: string; name: string }[];
  devTools: boolean;
  appName: string;
}

export function buildMenuTemplate(a: MenuActions, o: MenuOptions): MenuItemConstructorOptions[] {
  const mac = o.platform === 'darwin';
  const recent: MenuItemConstructorOptions[] = o.recent.length
    ? o.recent.slice(0, 10).map((r) => ({ label: `${r.name} — ${r.path}`, click: () => a.openRecent(r.path) }))
    : [{ label: 'No recent folders', enabled: false }];
  const template: MenuItemConstructorOptions[] = [];
  if (mac) {
    template.push({
      label: o.appName,
      submenu: [
        { label: `About ${o.appName}`, click: a.about },
        { type: 'separator' },
        { role: 'services' },
        { type: 'separator' },
        { role: 'hide' },
        { role: 'hideOthers' },
        { role: 'unhide' },
        { type: 'separator' },
        { label: `Quit ${o.appName}`, accelerator: 'Cmd+Q', click: a.quit },
      ],
    });
  }
  template.push({
    label: 'File',
    submenu: [
      { label: 'Open Folder…', accelerator: 'CmdOrCtrl+O', click: a.openFolder },
      { label: 'Open Recent', submenu: recent },
      { type: 'separator' },
      { label: 'Export Cleaned Dataset…', accelerator: 'CmdOrCtrl+E', click: a.exportDataset },
      { type: 'separator' },
      { label: 'Show App Data Folder', click: a.openDataFolder },
      ...(mac ? [] : [{ type: 'separator' } as const, { label: 'Quit', accelerator: 'Ctrl+Q', click: a.quit }]),
    ],
  });
  template.push({
    label: 'Edit',
    submenu: [
      // Decision undo/redo: the accelerator is shown but NOT registered, so Ctrl+Z still reaches
      // the page (its keyboard handler does the same thing, and text fields keep native undo).
      { label: 'Undo Decision', accelerator: 'CmdOrCtrl+Z', registerAccelerator: false, click: a.undo },
      { label: 'Redo Decision', accelerator: 'CmdOrCtrl+Shift+Z', registerAccelerator: false, click: a.redo },
      { type: 'separator' },
      // Standard roles: on macOS copy/paste in text fields only work through these.
      { role: 'cut' },
      { role: 'copy' },
      { role: 'paste' },
      { role: 'selectAll' },
    ],
  });
  template.push({
    label: 'View',
    submenu: [
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
      ...(o.devTools
        ? [{ type: 'separator' } as const, { role: 'reload' } as const, { role: 'toggleDevTools' } as const]
        : []),
    ],
  });
  template.push({
    label: 'Help',
    submenu: [
      { label: 'Keyboard Shortcuts', accelerator: 'F1', click: a.shortcuts },
      ...(mac ? [] : [{ type: 'separator' } as const, { label: `About ${o.appName}`, click: a.about }]),
    ],
  });
  return template;
}
