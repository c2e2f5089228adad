// Append-only decision journal (JSON lines). Every batch a person applies is one line, written
// and fsync'ed before `apply`/`undo`/`redo` return, so whatever the UI has confirmed survives a
// crash or SIGKILL. Decisions are keyed by the sample's dataset-relative PATH (not a run's row
// id) so they outlive re-runs and files added or removed on disk.
//
// Recovery: only newline-terminated lines count. A torn tail (crash mid-write) is cut off on open,
// so later appends never glue onto garbage; a corrupt line in the middle is skipped with a warning.
// An older version could leave a partial line with the next decision glued to it: the reader finds
// that decision inside the line and keeps it.
//
// A failed append (disk full, I/O error) puts the file back exactly as it was (truncated to the
// last good length), leaves memory unchanged and throws JournalWriteError, so nothing unsaved is
// ever acknowledged and the next decision is written on a clean line end. Writes go to an explicit
// offset (not O_APPEND), so even when that truncate fails too, the next append overwrites the
// leftover bytes and cuts the file at its own end.
//
// A read-only journal (the project is open for writing in another process) never touches the
// file: it replays complete lines and can catch up with what the writer appended since.
import fs from 'node:fs';
import path from 'node:path';
import { DecisionAction } from '../../src-shared/contract';

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

export interface HistoryItem {
  at: string;
  action: DecisionAction;
}

/** The file operations an append needs; tests inject failures through this. */
export interface JournalIo {
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, len: number): void;
}

export interface JournalOptions {
  /** Replay only: the file is never written (a torn tail is left to its writer), every change is refused. */
  readOnly?: boolean;
  io?: JournalIo;
}

/** A decision that could not be saved; the journal on disk and in memory is as before the call. */
export class JournalWriteError extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JournalWriteError';
  }
}

/** A change asked of a read-only journal. */
export class JournalReadOnlyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JournalReadOnlyError';
  }
}

const WHAT_FAILED: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EIO: 'an I/O error',
  EROFS: 'the disk is read-only',
  EFBIG: 'the file is too large',
};

export class Journal {
  /** path -> current decision ('restore' is stored as absence). */
  readonly decisions = new Map<string, DecisionAction>();
  private readonly history = new Map<string, HistoryItem[]>();
  /** Lines replayed so far (for warnings' line numbers when catching up). */
  private lines = 0;
  /** path -> file fingerprint at its latest decision. */
  private readonly fps = new Map<string, string>();
  private undoStack: Batch[] = [];
  private redoStack: Batch[] = [];
  private seq = 0;
  private fd: number | null = null;
  /** Bytes of complete lines in the file (replayed, or appended and fsync'ed by us). */
  private size = 0;
  /** A failed append could not truncate its partial line away: the next append must cut the file at its own end. */
  private dirtyTail = false;
  readonly readOnly: boolean;
  private readonly io: JournalIo;
  /** Bumped on every change, so query caches know when to drop results. */
  version = 0;
  readonly warnings: string[] = [];

  private constructor(
    readonly file: string,
    o: JournalOptions,
  ) {
    this.readOnly = !!o.readOnly;
    this.io = o.io ?? fs;
  }

  /** Opens (creating if needed, unless read-only) and replays the journal at `file`. */
  static open(file: string, o: JournalOptions = {}): Journal {
    const j = new Journal(file, o);
    if (!j.readOnly) fs.mkdirSync(path.dirname(file), { recursive: true });
    let buf = Buffer.alloc(0);
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const end = buf.lastIndexOf(0x0a) + 1;
    if (end < buf.length && !j.readOnly) {
      // Torn last line: drop it (it was never acknowledged: fsync happens after the full line).
      // A reader leaves it: the writer may be in the middle of that very line.
      j.warnings.push(`${file}: ignored an incomplete last line (${buf.length - end} bytes) left by a crash`);
      fs.truncateSync(file, end);
    }
    j.replayText(buf.subarray(0, end).toString('utf8'), 0);
    j.size = end;
    if (!j.readOnly) j.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    return j;
  }

  private replayText(text: string, firstLine: number): void {
    let lineNo = firstLine;
    for (const raw of text.split('\n')) {
      lineNo++;
      if (!raw.trim()) continue;
      let line: JournalLine | null = null;
      try {
        line = JSON.parse(raw) as JournalLine;
      } catch {
        // An older version appended after a failed write without a line break: the entry glued
        // to the end of the broken line is a real, acknowledged decision.
        for (let at = raw.indexOf('{"seq":', 1); at > 0 && !line; at = raw.indexOf('{"seq":', at + 1)) {
          try {
            line = JSON.parse(raw.slice(at)) as JournalLine;
          } catch {
            /* try the next start */
          }
        }
        this.warnings.push(
          line
            ? `${this.file}:${lineNo}: dropped an incomplete entry and kept the entry written after it on the same line`
            : `${this.file}:${lineNo}: skipped a line that is not valid JSON`,
        );
        if (!line) continue;
      }
      if (!this.replay(line))
        this.warnings.push(`${this.file}:${lineNo}: skipped an entry that does not fit the journal`);
    }
    this.lines = lineNo - 1;
  }

  /**
   * Read-only: replays what the writer appended since the last call (complete lines only).
   * Returns true when anything changed, null when the file got shorter (the writer took back a line
   * it could not save after we read it): then only a fresh open gives the truth.
   */
  catchUp(): boolean | null {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return false;
    }
    try {
      const total = fs.fstatSync(fd).size;
      if (total < this.size) return null;
      if (total === this.size) return false;
      const buf = Buffer.alloc(total - this.size);
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, this.size + got);
        if (!n) break;
        got += n;
      }
      const end = buf.subarray(0, got).lastIndexOf(0x0a) + 1;
      if (!end) return false;
      const v = this.version;
      this.replayText(buf.subarray(0, end).toString('utf8'), this.lines);
      this.size += end;
      return this.version !== v;
    } finally {
      fs.closeSync(fd);
    }
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
      if (a.kind === 'restore') this.decisions.delete(p);
      else this.decisions.set(p, a);
      let h = this.history.get(p);
      if (!h) this.history.set(p, (h = []));
      h.push({ at, action: a });
    }
    this.version++;
  }

  private append(line: JournalLine): void {
    if (this.readOnly) throw new JournalReadOnlyError(`${this.file}: the journal is open read-only`);
    if (this.fd === null) throw new Error(`${this.file}: journal is closed`);
    const fd = this.fd;
    const buf = Buffer.from(JSON.stringify(line) + '\n', 'utf8');
    const start = this.size;
    try {
      let off = 0;
      while (off < buf.length) off += this.io.writeSync(fd, buf, off, buf.length - off, start + off);
      if (this.dirtyTail) this.io.ftruncateSync(fd, start + buf.length);
      this.io.fsyncSync(fd);
    } catch (e) {
      // Put the file back as it was, so the next decision starts on a clean line end.
      try {
        this.io.ftruncateSync(fd, start);
        this.io.fsyncSync(fd);
        this.dirtyTail = false;
      } catch {
        this.dirtyTail = true;
      }
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      const why = WHAT_FAILED[code] ?? String((e as Error).message ?? e).split('\n')[0];
      throw new JournalWriteError(
        this.file,
        code,
        `decision not saved: ${why} (${code}) writing ${this.file}; nothing was changed: free space or fix the disk, then try again`,
      );
    }
    this.size = start + buf.length;
    this.dirtyTail = false;
    this.lines++;
  }

  private rememberFp(paths: string[], fp: unknown[]): void {
    for (let i = 0; i < paths.length; i++)
      if (typeof fp[i] === 'string' && fp[i]) this.fps.set(paths[i], fp[i] as string);
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

  fingerprintOf(pathRel: string): string | null {
    return this.fps.get(pathRel) ?? null;
  }

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

  get(pathRel: string): DecisionAction | null {
    return this.decisions.get(pathRel) ?? null;
  }
  historyOf(pathRel: string): HistoryItem[] {
    return this.history.get(pathRel) ?? [];
  }
  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }
  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
