// A small test double of the parts of 'electron' the shell's modules use. Tests install it with
//   vi.mock('electron', async () => (await import('./electron-double')).electronDouble())
// and then inspect what was registered (handlers, window options) and call it as Electron would.
type Fn = (...args: any[]) => any;

export class FakeWebContents {
  url = 'mopro-app://app/index.html';
  listeners = new Map<string, Fn[]>();
  windowOpenHandler: Fn | null = null;
  sent: { channel: string; args: unknown[] }[] = [];
  destroyed = false;
  setWindowOpenHandler(h: Fn) {
    this.windowOpenHandler = h;
  }
  on(ev: string, l: Fn) {
    this.listeners.set(ev, [...(this.listeners.get(ev) ?? []), l]);
    return this;
  }
  getURL() {
    return this.url;
  }
  isDestroyed() {
    return this.destroyed;
  }
  send(channel: string, ...args: unknown[]) {
    this.sent.push({ channel, args });
  }
  /** Emits like Electron: returns whether some listener called event.preventDefault(). */
  emit(ev: string, ...args: unknown[]): boolean {
    let prevented = false;
    const event = {
      preventDefault: () => {
        prevented = true;
      },
    };
    for (const l of this.listeners.get(ev) ?? []) l(event, ...args);
    return prevented;
  }
}

export class FakeBrowserWindow {
  static created: FakeBrowserWindow[] = [];
  webContents = new FakeWebContents();
  maximized = false;
  visible = false;
  loaded: string | null = null;
  winListeners = new Map<string, Fn[]>();
  once(ev: string, l: Fn) {
    return this.on(ev, l);
  }
  on(ev: string, l: Fn) {
    this.winListeners.set(ev, [...(this.winListeners.get(ev) ?? []), l]);
    return this;
  }
  /** Emits a window event; returns whether a listener called preventDefault(). */
  emit(ev: string): boolean {
    let prevented = false;
    const event = {
      preventDefault: () => {
        prevented = true;
      },
    };
    for (const l of this.winListeners.get(ev) ?? []) l(event);
    return prevented;
  }
  maximize() {
    this.maximized = true;
  }
  isMaximized() {
    return this.maximized;
  }
  isMinimized() {
    return false;
  }
  isVisible() {
    return this.visible;
  }
  show() {
    this.visible = true;
  }
  hide() {
    this.visible = false;
  }
  focus() {}
  restore() {}
  getNormalBounds() {
    return { x: this.options.x, y: this.options.y, width: this.options.width, height: this.options.height };
  }
  async loadURL(url: string) {
    this.loaded = url;
  }
  static getAllWindows() {
    return FakeBrowserWindow.created;
  }
  constructor(public options: Record<string, any>) {
    FakeBrowserWindow.created.push(this);
  }
}

export class FakeSession {
  permissionRequestHandler: Fn | null = null;
  permissionCheckHandler: Fn | null = null;
  headersReceived: Fn | null = null;
  setPermissionRequestHandler(h: Fn) {
    this.permissionRequestHandler = h;
  }
  setPermissionCheckHandler(h: Fn) {
    this.permissionCheckHandler = h;
  }
  webRequest = {
    onHeadersReceived: (h: Fn) => {
      this.headersReceived = h;
    },
  };
}

export const ipcMainDouble = {
  handlers: new Map<string, Fn>(),
  listeners: new Map<string, Fn>(),
  handle(ch: string, h: Fn) {
    if (this.handlers.has(ch)) throw new Error(`Attempted to register a second handler for '${ch}'`);
    this.handlers.set(ch, h);
  },
  removeHandler(ch: string) {
    this.handlers.delete(ch);
  },
  on(ch: string, l: Fn) {
    this.listeners.set(ch, l);
  },
  removeListener(ch: string) {
    this.listeners.delete(ch);
  },
};

/** Everything main.ts touches, recorded in `calls` (in order) for the tests to inspect. */
export const recorder = {
  calls: [] as string[],
  appListeners: new Map<string, Fn[]>(),
  protocolHandlers: new Map<string, Fn>(),
  privileged: [] as unknown[],
  menus: [] as unknown[],
  messageBoxAnswer: 0,
  messageBoxes: [] as any[],
  ready: null as null | (() => void),
  singleInstance: true,
};

export function emitApp(ev: string, ...args: unknown[]): boolean {
  let prevented = false;
  const event = {
    preventDefault: () => {
      prevented = true;
    },
  };
  for (const l of recorder.appListeners.get(ev) ?? []) l(event, ...args);
  return prevented;
}

const readyPromise = new Promise<void>((resolve) => {
  recorder.ready = resolve;
});

export function electronDouble() {
  const r = recorder;
  const app = {
    isPackaged: false,
    enableSandbox() {
      r.calls.push('enableSandbox');
    },
    requestSingleInstanceLock() {
      r.calls.push('requestSingleInstanceLock');
      return r.singleInstance;
    },
    on(ev: string, l: Fn) {
      r.appListeners.set(ev, [...(r.appListeners.get(ev) ?? []), l]);
      return app;
    },
    whenReady() {
      r.calls.push('whenReady');
      return readyPromise;
    },
    quit() {
      r.calls.push('quit');
    },
    exit(code: number) {
      r.calls.push(`exit ${code}`);
    },
    getVersion() {
      return '0.1.0';
    },
    getPath() {
      return '/home/user/Documents';
    },
  };
  const api = {
    app,
    ipcMain: ipcMainDouble,
    BrowserWindow: FakeBrowserWindow,
    session: { defaultSession: new FakeSession() },
    protocol: {
      registerSchemesAsPrivileged(s: unknown[]) {
        r.calls.push('registerSchemesAsPrivileged');
        r.privileged.push(...s);
      },
      handle(scheme: string, h: Fn) {
        r.calls.push(`protocol.handle ${scheme}`);
        r.protocolHandlers.set(scheme, h);
      },
    },
    screen: {
      getPrimaryDisplay: () => ({ workArea: { x: 0, y: 0, width: 1920, height: 1040 } }),
      getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1040 } }],
    },
    Menu: {
      buildFromTemplate: (t: unknown) => t,
      setApplicationMenu(m: unknown) {
        r.calls.push('setApplicationMenu');
        r.menus.push(m);
      },
    },
    dialog: {
      showMessageBoxSync(_w: unknown, o: any) {
        r.messageBoxes.push(o);
        return r.messageBoxAnswer;
      },
      async showMessageBox() {
        return { response: 0 };
      },
      async showOpenDialog() {
        return { canceled: false, filePaths: ['/picked/folder'] };
      },
      async showSaveDialog() {
        return { canceled: false, filePath: '/picked/export' };
      },
      showErrorBox(_t: string, m: string) {
        r.calls.push(`showErrorBox ${m}`);
      },
    },
    Notification: class {
      static isSupported() {
        return false;
      }
      show() {}
    },
    shell: { openPath: async () => '' },
    // engine jobs (app/engine-process.ts); tests/integration/engine-job-runner.test.ts drives the adapter with a real child
    utilityProcess: {
      fork() {
        throw new Error('utilityProcess.fork is not available in the Electron test double');
      },
    },
  };
  return { ...api, default: api };
}
