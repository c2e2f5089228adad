// IPC channel names and payloads shared by main and preload. No imports with side effects:
// the sandboxed preload bundles this file.
import type { ApiErrorShape } from '../../src-shared/contract';

export const CH = {
  /** renderer -> main (invoke): (method: string, input: unknown) -> IpcReply */
  api: 'mopro:api',
  /** main -> renderer: ApiEvent */
  event: 'mopro:event',
  /** main -> renderer: AppCommand (menu, drag-and-drop) */
  command: 'mopro:command',
  /** renderer -> main (invoke): () -> string | null */
  pickFolder: 'mopro:pick-folder',
  /** renderer -> main (invoke): (suggestedName?: string) -> string | null */
  pickSaveFolder: 'mopro:pick-save-folder',
  /** renderer -> main (send): a path dropped onto the window (from webUtils.getPathForFile) */
  dropped: 'mopro:dropped',
} as const;

/** Errors travel as data: Error objects lose custom fields (the code) through IPC and contextBridge. */
export type IpcReply = { ok: true; value: unknown } | { ok: false; error: ApiErrorShape };

export type { AppCommand } from '../../src-shared/shell';
