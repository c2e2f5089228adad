// The API over Electron IPC: one invoke channel, every call checked here BEFORE the service sees
// it (sender is our page, method is in the contract, input passes its zod schema); the service
// validates again (defence in depth). Events go back with webContents.send.
import { ipcMain, type IpcMainInvokeEvent, type WebContents } from 'electron';
import { ApiErrorCode, methods, type ApiErrorShape, type ApiEvent, type MethodName } from '../../src-shared/contract';
import { ApiError, type ApiService } from '../api/service-types';
import { CH, type AppCommand, type IpcReply } from './ipc-channels';
import { isTrustedUrl } from './security';

const CODES: ReadonlySet<ApiErrorShape['code']> = new Set(ApiErrorCode.options);

export function isMethodName(name: unknown): name is MethodName {
  // Object.hasOwn, not `in`: 'constructor', '__proto__', 'toString' must not pass.
  return typeof name === 'string' && Object.hasOwn(methods, name);
}

/** Checks a call against the contract; returns the parsed input or throws ApiError. */
export function validateApiCall(method: unknown, input: unknown): { method: MethodName; input: unknown } {
  if (!isMethodName(method)) {
    const shown = typeof method === 'string' ? `'${method.slice(0, 80)}'` : typeof method;
    throw new ApiError('NOT_FOUND', `unknown API method ${shown}`);
  }
  const parsed = methods[method].safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'input';
    throw new ApiError('BAD_INPUT', `${method}: ${where}: ${issue?.message ?? 'invalid input'}`);
  }
  return { method, input: parsed.data };
}

/** Any thrown value -> the error shape the renderer can act on. Internal details stay in main's log. */
export function toErrorShape(e: unknown): ApiErrorShape {
  if (e instanceof ApiError) return { code: e.code, message: e.message };
  const code = (e as { code?: unknown })?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof code === 'string' && CODES.has(code as ApiErrorShape['code']))
    return { code: code as ApiErrorShape['code'], message };
  return { code: 'INTERNAL', message: message || 'internal error' };
}

export interface ApiHandlerOptions {
  service: Pick<ApiService, 'call'>;
  /** Origins allowed to call (our app scheme; the dev server in dev). */
  origins: () => readonly string[];
  /** Called after a successful call (main refreshes the Recent menu, tracks training runs). */
  onResult?: (method: MethodName, input: unknown, result: unknown) => void;
  log?: (msg: string) => void;
}

type SenderLike = Pick<IpcMainInvokeEvent, 'senderFrame'>;

/** The ipcMain.handle listener for CH.api, without Electron: (event, method, input) -> IpcReply. */
export function createApiHandler(opts: ApiHandlerOptions) {
  const log = opts.log ?? (() => {});
  return async (event: SenderLike, method: unknown, input: unknown): Promise<IpcReply> => {
    // senderFrame is null when the frame navigated away or was destroyed: refuse too.
    const url = event.senderFrame?.url;
    if (!isTrustedUrl(url, opts.origins())) {
      log(`IPC refused from untrusted frame ${String(url).slice(0, 200)}`);
      return { ok: false, error: { code: 'FORBIDDEN', message: 'caller is not the MoPro Studio window' } };
    }
    try {
      const call = validateApiCall(method, input);
      const value = await opts.service.call(call.method, call.input);
      opts.onResult?.(call.method, call.input, value);
      return { ok: true, value };
    } catch (e) {
      const shape = toErrorShape(e);
      if (shape.code === 'INTERNAL') log(`API ${String(method).slice(0, 80)} failed: ${(e as Error)?.stack ?? e}`);
      return { ok: false, error: shape };
    }
  };
}

export interface IpcOptions extends ApiHandlerOptions {
  pickFolder: () => Promise<string | null>;
  pickSaveFolder: (suggestedName?: string) => Promise<string | null>;
  /** A path dropped onto the window (already a string from webUtils in the preload). */
  onDropped: (path: string) => void;
}

/** Registers every channel on ipcMain; returns a function that removes them. */
export function registerIpc(opts: IpcOptions): () => void {
  const trusted = (e: SenderLike) => isTrustedUrl(e.senderFrame?.url, opts.origins());
  ipcMain.handle(CH.api, createApiHandler(opts));
  ipcMain.handle(CH.pickFolder, async (e) => (trusted(e) ? opts.pickFolder() : null));
  ipcMain.handle(CH.pickSaveFolder, async (e, name: unknown) =>
    trusted(e) ? opts.pickSaveFolder(typeof name === 'string' ? name.slice(0, 255) : undefined) : null,
  );
  const onDropped = (e: SenderLike, p: unknown) => {
    if (trusted(e) && typeof p === 'string' && p.length > 0 && p.length <= 4096) opts.onDropped(p);
  };
  ipcMain.on(CH.dropped, onDropped);
  return () => {
    ipcMain.removeHandler(CH.api);
    ipcMain.removeHandler(CH.pickFolder);
    ipcMain.removeHandler(CH.pickSaveFolder);
    ipcMain.removeListener(CH.dropped, onDropped);
  };
}

/** Sends an API event to the window, if it is still there (events during shutdown are dropped). */
export function sendEvent(wc: WebContents | null | undefined, e: ApiEvent): void {
  if (wc && !wc.isDestroyed()) wc.send(CH.event, e);
}

export function sendCommand(wc: WebContents | null | undefined, c: AppCommand): void {
  if (wc && !wc.isDestroyed()) wc.send(CH.command, c);
}
