// Where commands may write. The user's dataset is only ever read: no output lands inside it (or in a
// folder that contains it), no file we did not write is replaced, and a finished run is replaced only
// when asked (--force), with the old one kept beside the new one. The CLI, the engine's training run
// and the API call these checks before they create anything.
import fs from 'node:fs';
import path from 'node:path';
import { DECISIONS_JSON, RUN_JSON } from '../../src-shared/run-format';

/** A refused output location: a usage error (the CLI exits 2); the message names the path and the fix. */
export class OutputRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputRefused';
  }
}

/** Real path of `p`, or of its nearest existing ancestor joined with the rest (symlinks in the existing part resolved). */
export function realish(p: string): string {
  const rest: string[] = [];
  let cur = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return path.resolve(p);
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** `child` is `parent` or below it (plain path comparison; pass real paths). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export interface GuardedFolder {
  path: string;
  what: string;
}

/**
 * Refuses `out` when it is inside one of `folders` (the dataset, the folder being classified) or
 * contains one, comparing real paths so a symlink cannot smuggle the output in.
 */
export function checkOutsideFolders(out: string, folders: readonly GuardedFolder[], flag = '--out'): void {
  const target = realish(out);
  for (const f of folders) {
    const root = realish(f.path);
    if (isInside(root, target))
      throw new OutputRefused(
        `${flag} ${out} is inside the ${f.what} ${f.path}: MoPro Studio never writes into your images' folder; choose a folder outside it`,
      );
    if (isInside(target, root))
      throw new OutputRefused(
        `${flag} ${out} contains the ${f.what} ${f.path}: choose a new folder that is not above it`,
      );
  }
}

/** run.json as the engine writes it (version 1, a state, the dataset and the config). */
function readOurRunJson(dir: string): { state: string; epochs: number } | null {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(dir, RUN_JSON), 'utf8')) as Record<string, unknown>;
    if (
      j &&
      j.version === 1 &&
      typeof j.state === 'string' &&
      typeof j.dataset === 'string' &&
      j.config &&
      typeof j.config === 'object'
    ) {
      return { state: j.state, epochs: Array.isArray(j.epochs) ? j.epochs.length : 0 };
    }
  } catch {
    /* not ours */
  }
  return null;
}

/** What the app or the CLI put in a run folder before the engine writes run.json. */
const PENDING_RUN_FILES = new Set([DECISIONS_JSON, 'studio.json']);

export type RunFolderState =
  | { kind: 'absent' }
  | { kind: 'empty' }
  | { kind: 'pending' } //                only our pre-training side files
  | { kind: 'run'; state: string; epochs: number }
  | { kind: 'file' }
  | { kind: 'foreign'; entries: number };

export function inspectRunFolder(dir: string): RunFolderState {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    // ENOTDIR (a file where a parent folder should be): creating the folder fails later, naming it.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'absent' };
    throw new OutputRefused(
      `--out ${dir} cannot be inspected (${(e as NodeJS.ErrnoException).code ?? e}): choose another folder`,
    );
  }
  if (!st.isDirectory()) return { kind: 'file' };
  const entries = fs.readdirSync(dir);
  if (!entries.length) return { kind: 'empty' };
  const run = readOurRunJson(dir);
  if (run) return { kind: 'run', ...run };
  if (entries.every((e) => PENDING_RUN_FILES.has(e))) return { kind: 'pending' };
  return { kind: 'foreign', entries: entries.length };
}

export interface RunOutputOptions {
  /** The dataset(s) the run reads: the output may be neither inside nor above them. */
  folders: readonly GuardedFolder[];
  resume?: boolean;
  force?: boolean;
  /** How to name the continue option in messages ('--resume' for train; cRT has none). */
  canResume?: boolean;
}

/**
 * Checks a run folder before a command writes it; returns what it found. Throws OutputRefused for a
 * file, a folder of someone else's files, or an existing run that neither --resume nor --force covers.
 */
export function checkRunOutput(out: string, o: RunOutputOptions): RunFolderState {
  if (o.resume && o.force)
    throw new OutputRefused('give --resume (continue the run) or --force (start over, keeping the old run), not both');
  checkOutsideFolders(out, o.folders);
  const s = inspectRunFolder(out);
  const resumeHint = o.canResume === false ? '' : 'continue it with --resume, or ';
  switch (s.kind) {
    case 'absent':
    case 'empty':
    case 'pending':
      return s;
    case 'file':
      throw new OutputRefused(
        `--out ${out} is a file, not a run folder: give a new folder name (MoPro Studio never replaces your files)`,
      );
    case 'foreign':
      throw new OutputRefused(
        `--out ${out} is not empty (${s.entries} entries) and is not a MoPro run folder: choose a new or empty folder (MoPro Studio never replaces your files)`,
      );
    case 'run':
      if (o.resume || o.force) return s;
      throw new OutputRefused(
        `--out ${out} already holds ${s.state === 'done' ? `a finished run (${s.epochs} epoch(s))` : `an unfinished run (${s.state}, ${s.epochs} epoch(s) done)`}: ${resumeHint}start over with --force (the old run is kept as ${path.basename(out)}.old-<time>), or choose another --out`,
      );
  }
}

/** Moves an existing run folder aside to `<out>.old-<UTC time>` (never deletes it); returns the new path. */
export function setAsideRun(out: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  let dest = `${out.replace(/[\\/]+$/, '')}.old-${stamp}`;
  for (let k = 2; fs.existsSync(dest); k++) dest = `${out.replace(/[\\/]+$/, '')}.old-${stamp}-${k}`;
  fs.renameSync(out, dest);
  return dest;
}

/** checkRunOutput, then with --force an existing run goes aside. Returns the set-aside path, if any. */
export function prepareRunOutput(out: string, o: RunOutputOptions): { setAside: string | null; found: RunFolderState } {
  const found = checkRunOutput(out, o);
  if (o.force && (found.kind === 'run' || found.kind === 'pending')) return { setAside: setAsideRun(out), found };
  return { setAside: null, found };
}

export interface FileOutputOptions {
  folders: readonly GuardedFolder[];
  /** The exact first line of the CSV we write: an existing file is replaced only when it starts with it. */
  header?: string;
  /** For files without a header line (JSON reports): recognises our own from the whole text. */
  ours?: (text: string) => boolean;
  /** What the file is, for the message (default: by its header). */
  what?: string;
  /** Side files written with it (e.g. '<out>.summary.json'), each with a test that recognises our own. */
  sideFiles?: readonly { path: string; ours: (text: string) => boolean; what: string }[];
  flag?: string;
}

/** First line of a file, reading at most 64 KiB. */
function firstLine(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf
      .subarray(0, n)
      .toString('utf8')
      .replace(/^\uFEFF/, '');
    return text.split(/\r?\n/)[0] ?? '';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks a single output file (a predictions CSV): not inside a guarded folder, not a folder, not a
 * symlink, and if it exists, one we wrote (its first line is our header). Same for its side files.
 */
export function checkFileOutput(out: string, o: FileOutputOptions): void {
  const flag = o.flag ?? '--out';
  checkOutsideFolders(out, o.folders, flag);
  const existing = (p: string): fs.Stats | null => {
    try {
      return fs.lstatSync(p);
    } catch {
      return null;
    }
  };
  const st = existing(out);
  if (st) {
    if (st.isDirectory())
      throw new OutputRefused(
        `${flag} ${out} is a folder: give a file name, e.g. ${path.join(out, 'predictions.csv')}`,
      );
    if (st.isSymbolicLink()) throw new OutputRefused(`${flag} ${out} is a symbolic link: give the path of a new file`);
    if (!st.isFile()) throw new OutputRefused(`${flag} ${out} is not a regular file: give the path of a new file`);
    let mine = false;
    try {
      if (o.header !== undefined) mine = firstLine(out) === o.header;
      else if (o.ours && st.size < 16 * 1024 * 1024) mine = o.ours(fs.readFileSync(out, 'utf8'));
    } catch {
      /* unreadable: not recognisably ours */
    }
    const why =
      o.header !== undefined
        ? `its first line is not "${o.header}"`
        : `it is not a ${o.what ?? 'file'} written by MoPro Studio`;
    if (!mine)
      throw new OutputRefused(
        `${flag} ${out} exists and was not written by MoPro Studio (${why}): give a new file name; your file was not changed`,
      );
  }
  for (const side of o.sideFiles ?? []) {
    const s = existing(side.path);
    if (!s) continue;
    let text = '';
    try {
      if (s.isFile()) text = fs.readFileSync(side.path, 'utf8');
    } catch {
      /* unreadable: not ours */
    }
    if (!s.isFile() || !side.ours(text))
      throw new OutputRefused(
        `${side.path} exists and is not a ${side.what} written by MoPro Studio: move it or give another ${flag}; it was not changed`,
      );
  }
}
