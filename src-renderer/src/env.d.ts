/// <reference types="vite/client" />
import type { MoproApi } from '@shared/contract';

/** What the Electron preload exposes; `pickFolder` only exists in the desktop app. */
/** Menu / drag-and-drop commands from the Electron shell (src-main/app/ipc-channels.ts AppCommand). */
export type ShellCommand =
  | { type: 'open-path'; path: string }
  | { type: 'export' }
  | { type: 'undo' }
  | { type: 'redo' }
  | { type: 'shortcuts' }
  | { type: 'error'; message: string };

/** What the Electron preload exposes; the extras only exist in the desktop app. */
export interface MoproBridge extends MoproApi {
  pickFolder?: () => Promise<string | null>;
  pickSaveFolder?: (suggestedName?: string) => Promise<string | null>;
  onCommand?: (listener: (c: ShellCommand) => void) => () => void;
}

declare global {
  interface Window {
    mopro?: MoproBridge;
  }
}
