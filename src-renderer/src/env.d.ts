/// <reference types="vite/client" />
import type { MoproApi } from '@shared/contract';
import type { AppCommand } from '@shared/shell';

/** Menu / drag-and-drop commands from the Electron shell. */
export type ShellCommand = AppCommand;

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
