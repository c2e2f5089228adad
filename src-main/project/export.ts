// Export of the cleaned dataset (design.md §3 Export). The target must be a new or empty folder
// outside the dataset; a marker file sits in it for the whole job and is removed last, so an
// interrupted export is never mistaken for a finished one. The source folder is only read.
import fs from 'node:fs';
import path from 'node:path';
import { toCsv } from '../util/csv';
import { isInside as inside, realish } from '../util/output-guard';
import type { ExportRow } from './project';
import { LABEL_SOURCES, type ExportSummary, type LabelSource } from '../../src-shared/contract';

export const INCOMPLETE_MARKER = '.mopro-export-incomplete';
export const OOD_DIR = '_ood';
export const LABELS_HEADER = ['path', 'original_label', 'final_label', 'source'] as const;

export type ExportMode = 'copy' | 'hardlink' | 'manifest';

export interface ExportOptions {
  rows: readonly ExportRow[];
  datasetRoot: string;
  to: string;
  mode: ExportMode;
  includeOod: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

/** Throws ExportError (one line: what and the fix) when `to` is not a safe target. */
export function checkTarget(to: string, datasetRoot: string): void {
  const target = realish(to);
  const root = realish(datasetRoot);
  if (inside(root, target))
    throw new ExportError(`export target ${to} is inside the dataset ${datasetRoot}: choose a folder outside it`);
  if (inside(target, root))
    throw new ExportError(
      `export target ${to} contains the dataset ${datasetRoot}: choose a new empty folder elsewhere`,
    );
  let entries: string[] | null = null;
  try {
    entries = fs.readdirSync(to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new ExportError(`export target ${to} is a file: choose a new or empty folder`);
    if (code !== 'ENOENT') throw new ExportError(`export target ${to} cannot be read (${code}): choose another folder`);
  }
  if (entries && entries.length)
    throw new ExportError(`export target ${to} is not empty (${entries.length} entries): choose a new or empty folder`);
}

function diskError(e: unknown, to: string, done: number, total: number): ExportError {
  const code = (e as NodeJS.ErrnoException).code;
  const where = `export to ${to} stopped after ${done} of ${total} files`;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new ExportError(
      `${where}: disk full (${code}); free space and export into a new empty folder (this one is marked ${INCOMPLETE_MARKER})`,
    );
  if (code === 'EXDEV')
    return new ExportError(
      `${where}: hardlinks cannot cross file systems (EXDEV); use --mode copy or a target on the dataset's disk`,
    );
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
    return new ExportError(`${where}: not writable (${code}); choose a folder you can write to`);
  return new ExportError(`${where}: ${(e as Error).message ?? e}`);
}

/** A file name not yet used in `dir` (case-insensitively, for case-insensitive disks): a.png, a-2.png, ... */
function uniqueName(used: Set<string>, name: string): string {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  let cand = name;
  for (let k = 2; used.has(cand.toLowerCase()); k++) cand = `${stem}-${k}${ext}`;
  used.add(cand.toLowerCase());
  return cand;
}

/** Folder name for a label that is safe on every OS (labels come from folder names or a person's typing). */
export function safeDirName(label: string): string {
  const s = label
    .replace(/[<>:"/\\|?*\u0000-\u001f]/g, '_')
    .replace(/^\.+/, '_')
    .trim();
  return s || '_';
}

export const MANIFEST = 'labels.csv';

/**
 * Throws ExportError, before anything is written, when a class's folder would collide with the manifest
 * (a class named labels.csv), with the OOD folder (a class named _ood, when OOD images are exported) or
 * with another class's folder (two labels that become the same safe folder name).
 */
export function checkExportNames(rows: readonly ExportRow[], mode: ExportMode, includeOod: boolean): void {
  if (mode === 'manifest') return; // no class folders
  const owner = new Map<string, string>();
  for (const r of rows) {
    if (r.finalLabel === null) continue;
    const dir = safeDirName(r.finalLabel);
    if (owner.get(dir) === r.finalLabel) continue;
    const lower = dir.toLowerCase();
    if (lower === MANIFEST) {
      throw new ExportError(
        `class '${r.finalLabel}' would be written as the folder '${dir}', the manifest's name: rename that class folder in the dataset or override its label in Review, or export with --mode manifest; nothing was written`,
      );
    }
    if (includeOod && lower === OOD_DIR) {
      throw new ExportError(
        `class '${r.finalLabel}' would merge with the folder of out-of-distribution images '${OOD_DIR}/': export without --ood (OOD images), or rename that class folder or override its label in Review; nothing was written`,
      );
    }
    const prev = owner.get(dir);
    if (prev !== undefined && prev !== r.finalLabel) {
      throw new ExportError(
        `classes '${prev}' and '${r.finalLabel}' would share the export folder '${dir}' (characters that are not allowed in folder names become '_'): rename one of them or override its label in Review; nothing was written`,
      );
    }
    owner.set(dir, r.finalLabel);
  }
}

export interface ExportResult {
  dir: string;
  files: number;
  ood: number;
  manifest: string;
  summary: ExportSummary;
}

/** Per-class counts, how many labels are unreviewed model guesses, and what was left out. */
export function summarizeExport(rows: readonly ExportRow[], mode: ExportMode, includeOod: boolean): ExportSummary {
  const bySource = Object.fromEntries(LABEL_SOURCES.map((k) => [k, 0])) as Record<LabelSource, number>;
  const classes = new Map<string, { label: string; count: number; unreviewed: number }>();
  let ood = 0,
    duplicates = 0;
  for (const r of rows) {
    const src = (LABEL_SOURCES as readonly string[]).includes(r.source) ? (r.source as LabelSource) : 'model';
    bySource[src]++;
    if (src === 'duplicate') {
      duplicates++;
      continue;
    }
    if (r.finalLabel === null) {
      ood++;
      continue;
    }
    let c = classes.get(r.finalLabel);
    if (!c) classes.set(r.finalLabel, (c = { label: r.finalLabel, count: 0, unreviewed: 0 }));
    c.count++;
    if (src === 'model') c.unreviewed++;
  }
  const copying = mode !== 'manifest';
  const perClass = [...classes.values()].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return {
    mode,
    files: copying ? perClass.reduce((n, c) => n + c.count, 0) + (includeOod ? ood : 0) : 0,
    manifestRows: rows.length,
    perClass,
    ood,
    oodWritten: copying && includeOod ? ood : 0,
    duplicates,
    bySource,
  };
}

/**
 * Creates `dir` one missing level at a time. Node 20's recursive mkdir never returns for some
 * pseudo-filesystem targets (e.g. /proc/self/<new>), which would freeze the server or the app.
 */
function mkdirSteps(dir: string): void {
  const missing: string[] = [];
  let d = dir;
  while (!fs.existsSync(d)) {
    missing.unshift(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  for (const m of missing) fs.mkdirSync(m);
}

export async function exportDataset(o: ExportOptions): Promise<ExportResult> {
  checkTarget(o.to, o.datasetRoot);
  checkExportNames(o.rows, o.mode, o.includeOod);
  const to = path.resolve(o.to);
  try {
    mkdirSteps(to);
    fs.accessSync(to, fs.constants.W_OK);
    fs.writeFileSync(
      path.join(to, INCOMPLETE_MARKER),
      `MoPro Studio export in progress or interrupted; started ${new Date().toISOString()}.\nDo not use this folder as a finished export.\n`,
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw diskError(e, to, 0, o.rows.length);
    // A read-only mount reports ENOENT from a recursive mkdir: say what the person can act on.
    throw new ExportError(
      `export target ${to} cannot be created or written (${code ?? e}): choose a folder you can write to`,
    );
  }

  const copying = o.mode !== 'manifest';
  // Duplicates are never copied (not even to _ood/): labels.csv lists them with source `duplicate`.
  const todo = copying ? o.rows.filter((r) => r.finalLabel !== null || (o.includeOod && r.source !== 'duplicate')) : [];
  const used = new Map<string, Set<string>>();
  let done = 0;
  let ood = 0;
  const total = todo.length;
  o.onProgress?.(0, total);
  for (const r of todo) {
    if (o.signal?.aborted)
      throw new ExportError(
        `export to ${to} cancelled after ${done} of ${total} files (folder marked ${INCOMPLETE_MARKER})`,
      );
    const dirName = r.finalLabel === null ? OOD_DIR : safeDirName(r.finalLabel);
    if (r.finalLabel === null) ood++;
    const dir = path.join(to, dirName);
    let names = used.get(dirName);
    if (!names) {
      names = new Set([INCOMPLETE_MARKER.toLowerCase(), MANIFEST]);
      used.set(dirName, names);
      fs.mkdirSync(dir); // one level under `to`, which we created and checked empty
    }
    const dest = path.join(dir, uniqueName(names, path.basename(r.rel)));
    try {
      if (o.mode === 'hardlink') await fs.promises.link(r.abs, dest);
      else await fs.promises.copyFile(r.abs, dest, fs.constants.COPYFILE_EXCL);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !fs.existsSync(r.abs))
        throw new ExportError(
          `export to ${to}: source file ${r.abs} vanished; re-open the project and export again into a new folder`,
        );
      throw diskError(e, to, done, total);
    }
    done++;
    if (done % 200 === 0 || done === total) o.onProgress?.(done, total);
  }
  const manifest = path.join(to, MANIFEST);
  try {
    const csv = toCsv(
      LABELS_HEADER,
      o.rows.map((r) => [r.rel, r.given, r.finalLabel ?? '', r.source]),
    );
    const fd = fs.openSync(manifest, 'wx');
    try {
      fs.writeSync(fd, csv);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.rmSync(path.join(to, INCOMPLETE_MARKER));
  } catch (e) {
    throw diskError(e, to, done, total);
  }
  return { dir: to, files: done, ood, manifest, summary: summarizeExport(o.rows, o.mode, o.includeOod) };
}
