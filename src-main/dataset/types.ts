// Contract of the dataset module (implemented in src-main/dataset/*.ts, used by engine, project, CLI).
export interface DatasetSample {
  rel: string; //        path relative to the dataset root, '/' separators (as in samples.csv)
  abs: string; //        absolute path
  label: string; //      class folder name (the given / web label)
  classIndex: number; // index into ScanResult.classes
  bytes: number;
  mtimeMs: number;
}
export interface SkippedFile {
  path: string;
  reason: string;
} // path relative to the root when inside it

export interface ScanResult {
  root: string; //       absolute dataset root
  classes: string[]; //  sorted class folder names that hold at least one candidate image
  samples: DatasetSample[]; // sorted by rel
  skipped: SkippedFile[]; //   files that look like images but were rejected at scan (e.g. zero bytes)
  warnings: string[]; //       e.g. "class folder 'foo' is empty: excluded"
}

/** Thrown for datasets that cannot be used at all; message is one line naming the path and the fix. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export interface LoadOptions {
  size: number; //        output is size x size (resized, centre-preserving; see implementation)
  channels: 1 | 3; //     1 = luminance, 3 = sRGB
  cacheDir?: string; //   on-disk cache of decoded pixels keyed by path, size, channels and mtime
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}
export interface LoadResult {
  pixels: Uint8Array; //  N x size x size x channels, rows of samples that failed are zero
  ok: boolean[]; //       per input sample: decoded?
  skipped: SkippedFile[]; // the failures, with reasons
}
