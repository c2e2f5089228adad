// The bridge between the sandboxed, context-isolated page and main. It exposes exactly the
// MoproApi shape (call, on, imageUrl) plus the native helpers, and nothing of ipcRenderer itself:
// the page can only send the API's method calls, which main validates again.
//
// Runs sandboxed: only 'electron' may be imported at run time (everything else is bundled), and
// electron-vite must emit it as CommonJS (a sandboxed preload cannot be an ES module).
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { ApiEvent, MethodName, MoproApi } from '../../src-shared/contract';
import { imageUrl } from './image-url';
import { CH, type AppCommand, type IpcReply } from './ipc-channels';

// tsconfig.node.json has no DOM lib (and should not, for the rest of main); the few DOM bits
// used here are declared locally.
interface DragLike {
  preventDefault(): void;
  dataTransfer: { dropEffect: string; files: ArrayLike<Parameters<typeof webUtils.getPathForFile>[0]> } | null;
}
declare const window: { addEventListener(type: 'dragover' | 'drop', listener: (e: DragLike) => void): void };

const eventListeners = new Set<(e: ApiEvent) => void>();
const commandListeners = new Set<(c: AppCommand) => void>();

ipcRenderer.on(CH.event, (_e, ev: ApiEvent) => {
  for (const l of eventListeners) {
    try {
      l(ev);
    } catch (err) {
      console.error('mopro event listener failed', err);
    }
  }
});
ipcRenderer.on(CH.command, (_e, c: AppCommand) => {
  for (const l of commandListeners) l(c);
});

async function call(method: MethodName, input: unknown): Promise<unknown> {
  const reply = (await ipcRenderer.invoke(CH.api, method, input)) as IpcReply;
  if (reply.ok) return reply.value;
  // Custom Error fields do not survive contextBridge: the code goes into the message, in the
  // "CODE: message" form the renderer's toApiError() parses.
  const err = new Error(`${reply.error.code}: ${reply.error.message}`);
  err.name = 'ApiError';
  throw err;
}

const bridge = {
  call: call as MoproApi['call'],
  on(listener: (e: ApiEvent) => void): () => void {
    eventListeners.add(listener);
    return () => void eventListeners.delete(listener);
  },
  imageUrl,
  /** Native folder picker; null when cancelled. */
  pickFolder: (): Promise<string | null> => ipcRenderer.invoke(CH.pickFolder),
  /** Native save dialog for a new export folder; null when cancelled. */
  pickSaveFolder: (suggestedName?: string): Promise<string | null> =>
    ipcRenderer.invoke(CH.pickSaveFolder, suggestedName),
  /** Menu and drag-and-drop commands (open-path, export, undo, redo, shortcuts, error). */
  onCommand(listener: (c: AppCommand) => void): () => void {
    commandListeners.add(listener);
    return () => void commandListeners.delete(listener);
  },
  platform: process.platform,
} satisfies MoproApi & Record<string, unknown>;

contextBridge.exposeInMainWorld('mopro', bridge);

// Drag-and-drop of a folder onto the window. The page never learns real paths; here the preload
// (which may) reads it with webUtils and main checks that it is a folder, then sends the page an
// 'open-path' command. Default handling (navigating to the dropped file) is always suppressed.
window.addEventListener('dragover', (e) => {
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
});
window.addEventListener('drop', (e) => {
  e.preventDefault();
  const file = e.dataTransfer?.files?.[0];
  if (!file) return;
  const p = webUtils.getPathForFile(file);
  if (p) ipcRenderer.send(CH.dropped, p);
});
