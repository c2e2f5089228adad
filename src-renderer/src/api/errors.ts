import { ApiErrorCode, type ApiErrorShape } from '@shared/contract';

/** An API failure as the UI sees it, whatever the transport. */
export class ApiCallError extends Error {
  constructor(
    public code: ApiErrorShape['code'] | 'NETWORK',
    message: string,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

const codes: ReadonlySet<string> = new Set(ApiErrorCode.options);
// Electron prefixes IPC errors: "Error invoking remote method 'x': ApiError: NOT_FOUND: ..."
const prefixed = new RegExp(`\\b(${ApiErrorCode.options.join('|')})\\b[:\\s]+(.*)$`, 's');

/** Turns whatever a transport threw (IPC Error, JSON body, TypeError from fetch) into ApiCallError. */
export function toApiError(err: unknown): ApiCallError {
  if (err instanceof ApiCallError) return err;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (typeof e.code === 'string' && codes.has(e.code))
      return new ApiCallError(e.code as ApiErrorShape['code'], message);
    const m = prefixed.exec(message);
    if (m) return new ApiCallError(m[1] as ApiErrorShape['code'], m[2]!.trim() || message);
    if (err instanceof TypeError) return new ApiCallError('NETWORK', `Cannot reach the MoPro server (${message}).`);
    return new ApiCallError('INTERNAL', message);
  }
  return new ApiCallError('INTERNAL', String(err));
}
