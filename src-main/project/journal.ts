// Append-only decision journal (JSON lines). Every batch a person applies is one line, written
// and fsync'ed before `apply`/`undo`/`redo` return, so whatever the UI has confirmed survives a
// crash or SIGKILL. Decisions are keyed by the sample's dataset-relative PATH (not a run's row
// id) so they outlive re-runs and files added or removed on disk.
//
// Recovery: only newline-terminated lines count. A torn tail (crash mid-write) is cut off on open,
// so later appends never glue onto garbage; a corrupt line in the middle is skipped with a warning.
import fs from 'node:fs';
import path from 'node:path';
import { DecisionAction } from '../api/contract';

export type JournalLine =
  // fp[i]: "<bytes>:<mtime ms>" of paths[i] when decided, so a renamed file can be recognised.
  | { seq: number; at: string; op: 'apply'; paths: string[]; action: DecisionAction; fp?: string[] }
  | { seq: number; at: string; op: 'undo'; target: number }
  | { seq: number; at: string; op: 'redo'; target: number };

interface Batch {
  seq: number;
  paths: string[];
  action: DecisionAction;
  /** Each path's decision before the batch, to put back on undo. */
  prev: (DecisionAction | null)[];
}

export interface HistoryItem { at: string; action: DecisionAction }

export interface JournalState {
  reviewed: number;
  canUndo: boolean;
  canRedo: boolean;
}

export class Journal {
  /** path -> current decision ('restore' is stored as absence). */
  readonly decisions = new Map<string, DecisionAction>();
  private readonly history = new Map<string, HistoryItem[]>();
  /** path -> file fingerprint at its latest decision. */
  private readonly fps = new Map<string, string>();
  private undoStack: Batch[] = [];
  private redoStack: Batch[] = [];
  private seq = 0;
  private fd: number | null = null;
  /** Bumped on every change, so query caches know when to drop results. */
  version = 0;
  readonly warnings: string[] = [];

  private constructor(readonly file: string) {}

  /** Opens (creating if needed) and replays the journal at `file`. */
  static open(file: string): Journal {
    const j = new Journal(file);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let text = '';
    try { text = fs.readFileSync(file, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      // Torn last line: drop it (it was never acknowledged: fsync happens after the full line).
      j.warnings.push(`${file}: ignored an incomplete last line (${text.length - end} bytes) left by a crash`);
      fs.truncateSync(file, Buffer.byteLength(text.slice(0, end), 'utf8'));
      text = text.slice(0, end);
    }
    let lineNo = 0;
    for (const raw of text.split('\n')) {
      lineNo++;
      if (!raw.trim()) continue;
      let line: JournalLine;
      try { line = JSON.parse(raw) as JournalLine; } catch {
        j.warnings.push(`${file}:${lineNo}: skipped a line that is not valid JSON`);
        continue;
      }
      if (!j.replay(line)) j.warnings.push(`${file}:${lineNo}: skipped an entry that does not fit the journal`);
    }
    j.fd = fs.openSync(file, 'a');
    return j;
  }

  private replay(line: JournalLine): boolean {
    if (!line || typeof line.seq !== 'number') return false;
    this.seq = Math.max(this.seq, line.seq);
    if (line.op === 'apply') {
      const parsed = DecisionAction.safeParse(line.action);
      if (!parsed.success || !Array.isArray(line.paths)) return false;
      this.doApply(line.seq, line.at, line.paths, parsed.data);
      if (Array.isArray(line.fp)) this.rememberFp(line.paths, line.fp);
      return true;
    }
    if (line.op === 'undo') return this.doUndo(line.at, line.target) !== null;
    if (line.op === 'redo') return this.doRedo(line.at, line.target) !== null;
    return false;
  }

  private doApply(seq: number, at: string, paths: string[], action: DecisionAction): Batch {
    const prev = paths.map((p) => this.decisions.get(p) ?? null);
    const batch: Batch = { seq, paths, action, prev };
    this.set(paths, at, () => action);
    this.undoStack.push(batch);
    this.redoStack = [];
    return batch;
  }

  private doUndo(at: string, target?: number): Batch | null {
    const batch = this.undoStack[this.undoStack.length - 1];
    if (!batch || (target !== undefined && batch.seq !== target)) return null;
    this.undoStack.pop();
    this.set(batch.paths, at, (i) => batch.prev[i] ?? { kind: 'restore' });
    this.redoStack.push(batch);
    return batch;
  }

  private doRedo(at: string, target?: number): Batch | null {
    const batch = this.redoStack[this.redoStack.length - 1];
    if (!batch || (target !== undefined && batch.seq !== target)) return null;
    this.redoStack.pop();
    batch.prev = batch.paths.map((p) => this.decisions.get(p) ?? null);
    this.set(batch.paths, at, () => batch.action);
    this.undoStack.push(batch);
    return batch;
  }

  private set(paths: string[], at: string, actionOf: (i: number) => DecisionAction): void {
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i];
      const a = actionOf(i);
      if (a.kind === 'restore') this.decisions.delete(p); else this.decisions.set(p, a);
      let h = this.history.get(p);
      if (!h) this.history.set(p, (h = []));
      h.push({ at, action: a });
    }
    this.version++;
  }

  private append(line: JournalLine): void {
    if (this.fd === null) throw new Error(`${this.file}: journal is closed`);
    const buf = Buffer.from(JSON.stringify(line) + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    fs.fsyncSync(this.fd);
  }

  private rememberFp(paths: string[], fp: unknown[]): void {
    for (let i = 0; i < paths.length; i++) if (typeof fp[i] === 'string' && fp[i]) this.fps.set(paths[i], fp[i] as string);
  }

  /**
   * Records one batch; durable on disk when this returns. Paths are deduplicated.
   * `fingerprint` (optional) gives each path's "<bytes>:<mtime>" so a later rename can be matched.
   */
  apply(paths: string[], action: DecisionAction, fingerprint?: (p: string) => string | undefined): number {
    const uniq = [...new Set(paths)];
    if (!uniq.length) return 0;
    const seq = this.seq + 1;
    const at = new Date().toISOString();
    const fp = fingerprint ? uniq.map((p) => fingerprint(p) ?? '') : undefined;
    // Write first: if the disk write fails, memory must not claim a decision the disk lacks.
    this.append(fp ? { seq, at, op: 'apply', paths: uniq, action, fp } : { seq, at, op: 'apply', paths: uniq, action });
    this.seq = seq;
    this.doApply(seq, at, uniq, action);
    if (fp) this.rememberFp(uniq, fp);
    return uniq.length;
  }

  fingerprintOf(pathRel: string): string | null { return this.fps.get(pathRel) ?? null; }

  /** Undoes the latest batch; returns the paths it touched (empty when nothing to undo). */
  undo(): string[] {
    const batch = this.undoStack[this.undoStack.length - 1];
    if (!batch) return [];
    const seq = this.seq + 1;
    const at = new Date().toISOString();
    this.append({ seq, at, op: 'undo', target: batch.seq });
    this.seq = seq;
    this.doUndo(at, batch.seq);
    return batch.paths;
  }

  redo(): string[] {
    const batch = this.redoStack[this.redoStack.length - 1];
    if (!batch) return [];
    const seq = this.seq + 1;
    const at = new Date().toISOString();
    this.append({ seq, at, op: 'redo', target: batch.seq });
    this.seq = seq;
    this.doRedo(at, batch.seq);
    return batch.paths;
  }

  get(pathRel: string): DecisionAction | null { return this.decisions.get(pathRel) ?? null; }
  historyOf(pathRel: string): HistoryItem[] { return this.history.get(pathRel) ?? []; }
  get canUndo(): boolean { return this.undoStack.length > 0; }
  get canRedo(): boolean { return this.redoStack.length > 0; }

  close(): void {
    if (this.fd !== null) { fs.closeSync(this.fd); this.fd = null; }
  }
}
