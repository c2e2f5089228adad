// Contract between the API implementation (src-main/api/service.ts) and its two transports:
// Electron IPC (src-main/app/) and HTTP + WebSocket (src-main/server/).
import type { ApiErrorCode, ApiEvent, MethodName } from '../../src-shared/contract';
import type { SpawnJob } from '../engine/job-runner';

export interface ServiceOptions {
  mode: 'electron' | 'browser';
  dataDir: string; //   app data: journals, recent list, runs of projects
  cacheDir: string; //  thumbnails and decoded-pixel cache
  emit: (e: ApiEvent) => void;
  /** How engine job processes start (engine/job-runner.ts): the Electron app passes utilityProcess; default child_process.fork. */
  spawnJob?: SpawnJob;
}

export interface ImageFile {
  file: string;
  mime: string;
}

export interface ApiService {
  /** Validates `input` with the method's zod schema; throws ApiError on bad input. */
  call(method: MethodName | string, input: unknown): Promise<unknown>;
  /**
   * Resolves an image request to a file inside the opened dataset or the thumbnail cache.
   * Throws ApiError('FORBIDDEN') for anything else: '..', absolute, encoded, symlink escapes.
   */
  image(projectId: string, relPath: string, kind: 'thumb' | 'full'): Promise<ImageFile>;
  dispose(): Promise<void>;
}

export class ApiError extends Error {
  constructor(
    public code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
