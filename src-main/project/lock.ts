// One writer per project: a lock file in the project's data folder names the process that may
// append to the decision journal (pid, host, when it took the lock). Two processes appending to
// one journal duplicate sequence numbers and make undo pop the other's decision, so a second app
// or `serve` opens the project read-only instead.
//
// The lock file is created complete or not at all (written to a temp file, then hard-linked into
// place, which fails if a lock exists). A lock whose process is gone (same host, no such pid, or
// the pid now belongs to a process started at another time) is stale and is taken over with a
// note; the takeover itself is serialised by a short-lived guard file, so two processes that find
// the same stale lock cannot both win. A lock from another host cannot be checked and is honoured.
// Within one process the lock is shared (counted): the API may hold a project twice while it
// reopens it. It is released on close and, as a last resort, when the process exits.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the holder took the lock. */
  since: string;
  /** Linux: the holder's start time in clock ticks since boot (/proc/<pid>/stat), to tell a reused pid. */
  procStart?: string;
  token: string;
}

export type LockResult = { ok: true; note: string | null } | { ok: false; holder: LockHolder };

const held = new Map<string, { token: string; count: number }>();
let exitHookInstalled = false;
/** A takeover guard older than this was left by a process that died mid-takeover. */
const GUARD_STALE_MS = 10_000;

function procStartOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the ")" that ends the command name (which may hold spaces).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
    return h && Number.isInteger(h.pid) && typeof h.host === 'string' && typeof h.since === 'string' ? h : null;
  } catch {
    return null;
  }
}

/** The holder of the lock at `file` while its process runs (or cannot be checked); null when free or stale. Writes nothing. */
export function liveHolder(file: string): LockHolder | null {
  const h = readHolder(file);
  return h && held.get(file)?.token !== h.token && isAlive(h) ? h : null;
}

/** false: certainly gone; true: running or cannot tell (another host). */
function isAlive(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return true;
  if (h.pid === process.pid) return false; // not in `held`, so an earlier process that had our pid
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = procStartOf(h.pid);
  return !(h.procStart && now && now !== h.procStart);
}

function tryCreate(file: string, me: LockHolder): boolean {
  const data = JSON.stringify(me) + '\n';
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    }
    // A file system without hard links: exclusive create (the content may be seen half-written for an instant).
    try {
      fs.writeFileSync(file, data, { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Replaces the stale lock `seen` (null: unreadable) with ours, unless someone else changed it first. */
function takeOver(file: string, seen: LockHolder | null, me: LockHolder): boolean {
  const guard = `${file}.takeover`;
  try {
    fs.writeFileSync(guard, `${process.pid}\n`, { flag: 'wx' });
  } catch {
    try {
      if (Date.now() - fs.statSync(guard).mtimeMs > GUARD_STALE_MS) fs.rmSync(guard, { force: true });
    } catch {
      /* gone already */
    }
    return false;
  }
  try {
    const now = readHolder(file);
    if ((now?.token ?? null) !== (seen?.token ?? null)) return false;
    fs.rmSync(file, { force: true });
    return tryCreate(file, me);
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

function releaseAllOnExit(): void {
  for (const [file, h] of held)
    if (readHolder(file)?.token === h.token) {
      try {
        fs.rmSync(file, { force: true });
      } catch {
        /* exiting */
      }
    }
  held.clear();
}

/**
 * Takes the writer lock at `file` for this process. Fails (with who holds it) when another live
 * process does; a stale lock is taken over and `note` says whose it was.
 */
export function acquireLock(file: string): LockResult {
  const mine = held.get(file);
  if (mine) {
    mine.count++;
    return { ok: true, note: null };
  }
  const me: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    since: new Date().toISOString(),
    procStart: procStartOf(process.pid),
    token: crypto.randomBytes(8).toString('hex'),
  };
  for (let attempt = 0; attempt < 60; attempt++) {
    if (tryCreate(file, me)) return win(file, me, null);
    const h = readHolder(file);
    if (h && isAlive(h)) return { ok: false, holder: h };
    let age = 0;
    try {
      age = Date.now() - fs.statSync(file).mtimeMs;
    } catch {
      continue;
    } // released between our two looks
    if (!h && age < 2000) {
      pause(50);
      continue;
    } // maybe being written (file systems without hard links)
    const note = h
      ? `took over the project lock of process ${h.pid} on ${h.host} (since ${h.since}), which is no longer running`
      : `replaced an unreadable project lock ${file}`;
    if (takeOver(file, h, me)) return win(file, me, note);
    // Someone else is taking over, or just did: look again.
    pause(20);
  }
  const h = readHolder(file);
  if (h) return { ok: false, holder: h };
  throw new Error(
    `${file}: could not take the project lock; close other MoPro Studio windows or servers and try again`,
  );
}

/** A short synchronous wait: the lock is taken on a synchronous path, and this race is rare and brief. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function win(file: string, me: LockHolder, note: string | null): LockResult {
  held.set(file, { token: me.token, count: 1 });
  if (!exitHookInstalled) {
    process.on('exit', releaseAllOnExit);
    exitHookInstalled = true;
  }
  return { ok: true, note };
}

/** Drops one hold; the file goes when the last hold in this process does (and only if it is still ours). */
export function releaseLock(file: string): void {
  const mine = held.get(file);
  if (!mine || --mine.count > 0) return;
  held.delete(file);
  if (readHolder(file)?.token === mine.token) fs.rmSync(file, { force: true });
}

/** One line for the UI and errors: who holds the project. */
export function describeHolder(h: Pick<LockHolder, 'pid' | 'host' | 'since'>): string {
  return `pid ${h.pid}${h.host !== os.hostname() ? ` on ${h.host}` : ''}, since ${h.since}`;
}
