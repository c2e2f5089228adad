// A failed append (disk full, I/O error) must leave the journal exactly as before and must never
// cost a later decision; an older version's glued line must not hide the decision glued to it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Journal, JournalReadOnlyError, JournalWriteError, type JournalIo } from './journal';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-jdur-'));
  dirs.push(d);
  return path.join(d, 'journal.jsonl');
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: injected`), { code });

/** Real fs, except that the write/fsync/ftruncate calls listed in `fail` throw (after writing `partial` bytes for a write). */
function faultyIo(plan: {
  write?: number[];
  fsync?: number[];
  truncate?: number[];
  code?: string;
  partial?: number;
}): JournalIo & { calls: Record<string, number> } {
  const calls = { write: 0, fsync: 0, truncate: 0 };
  const code = plan.code ?? 'ENOSPC';
  return {
    calls,
    writeSync(fd, buf, off, len, pos) {
      if (plan.write?.includes(++calls.write)) {
        // What a full disk does: part of the line lands, then the call fails.
        const n = Math.min(len, plan.partial ?? Math.floor(len / 2));
        if (n > 0) fs.writeSync(fd, buf, off, n, pos);
        throw errno(code);
      }
      return fs.writeSync(fd, buf, off, len, pos);
    },
    fsyncSync(fd) {
      if (plan.fsync?.includes(++calls.fsync)) throw errno(code);
      fs.fsyncSync(fd);
    },
    ftruncateSync(fd, len) {
      if (plan.truncate?.includes(++calls.truncate)) throw errno(code);
      fs.ftruncateSync(fd, len);
    },
  };
}

const big = (n: number) => Array.from({ length: n }, (_, i) => `class_a/image_${String(i).padStart(5, '0')}.png`);

describe('journal durability with an injected write error', () => {
  it('a partial write (ENOSPC) leaves the file byte-identical, memory unchanged; the next decision survives reopen', () => {
    const f2 = tmp();
    const k = Journal.open(f2, { io: faultyIo({ write: [2] }) });
    k.apply(['a/1.png'], { kind: 'accept' });
    const snap = fs.readFileSync(f2);
    let err: unknown;
    try {
      k.apply(big(300), { kind: 'ood' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JournalWriteError);
    expect((err as JournalWriteError).code).toBe('ENOSPC');
    expect((err as Error).message).toMatch(
      /^decision not saved: the disk is full \(ENOSPC\) writing .*journal\.jsonl; nothing was changed/,
    );
    expect((err as Error).message).not.toContain('\n');
    expect(fs.readFileSync(f2).equals(snap)).toBe(true); // exactly as before
    expect(k.decisions.size).toBe(1);
    expect(k.canRedo).toBe(false);
    k.apply(['a/2.png'], { kind: 'override', label: 'b' }); // the acknowledged one that used to be lost
    k.close();
    const m = Journal.open(f2);
    expect(m.warnings).toEqual([]);
    expect(Object.fromEntries(m.decisions)).toEqual({
      'a/1.png': { kind: 'accept' },
      'a/2.png': { kind: 'override', label: 'b' },
    });
    m.close();
  });

  it('fsync failing (EIO) after a complete line: the line is taken back, undo/redo are not recorded', () => {
    const f = tmp();
    const j = Journal.open(f, { io: faultyIo({ fsync: [2], code: 'EIO' }) });
    j.apply(['x'], { kind: 'keep' });
    const snap = fs.readFileSync(f);
    expect(() => j.undo()).toThrow(/an I\/O error \(EIO\)/);
    expect(fs.readFileSync(f).equals(snap)).toBe(true);
    expect(j.get('x')).toEqual({ kind: 'keep' });
    expect(j.canUndo).toBe(true);
    expect(j.undo()).toEqual(['x']);
    j.close();
    const k = Journal.open(f);
    expect(k.get('x')).toBeNull();
    expect(k.canRedo).toBe(true);
    expect(k.warnings).toEqual([]);
    k.close();
  });

  it('when even the truncate fails, the next append overwrites the leftover bytes and cuts the file at its end', () => {
    const f = tmp();
    const j = Journal.open(f, { io: faultyIo({ write: [2], truncate: [1], partial: 4000 }) });
    j.apply(['a/1.png'], { kind: 'accept' });
    expect(() => j.apply(big(300), { kind: 'ood' })).toThrow(JournalWriteError);
    expect(fs.statSync(f).size).toBeGreaterThan(4000); // the partial line is still there
    j.apply(['a/2.png'], { kind: 'ood' });
    j.close();
    const k = Journal.open(f);
    expect(k.warnings).toEqual([]);
    expect(Object.fromEntries(k.decisions)).toEqual({ 'a/1.png': { kind: 'accept' }, 'a/2.png': { kind: 'ood' } });
    k.close();
  });

  it('reads a decision an older version glued onto a partial line', () => {
    const f = tmp();
    const j = Journal.open(f);
    j.apply(['a/1.png'], { kind: 'accept' });
    j.close();
    fs.appendFileSync(
      f,
      '{"seq":2,"at":"2026-01-01T00:00:00Z","op":"apply","paths":["a/9.p' +
        '{"seq":2,"at":"2026-01-01T00:00:01Z","op":"apply","paths":["a/2.png"],"action":{"kind":"ood"}}\n',
    );
    const k = Journal.open(f);
    expect(k.get('a/2.png')).toEqual({ kind: 'ood' });
    expect(k.get('a/9.png')).toBeNull();
    expect(k.warnings.join()).toMatch(/:2: dropped an incomplete entry and kept the entry written after it/);
    k.close();
  });
});

describe('read-only journal', () => {
  it('never writes (a torn tail is left to its writer), refuses changes, and catches up with the writer', () => {
    const f = tmp();
    const w = Journal.open(f);
    w.apply(['a'], { kind: 'keep' });
    fs.writeSync(fs.openSync(f, 'a'), '{"seq":9,"op":"app'); // the writer mid-line
    const bytes = fs.readFileSync(f);
    const r = Journal.open(f, { readOnly: true });
    expect(r.get('a')).toEqual({ kind: 'keep' });
    expect(() => r.apply(['b'], { kind: 'ood' })).toThrow(JournalReadOnlyError);
    expect(fs.readFileSync(f).equals(bytes)).toBe(true);
    expect(r.catchUp()).toBe(false);
    fs.truncateSync(f, bytes.length - '{"seq":9,"op":"app'.length);
    w.apply(['b'], { kind: 'ood' });
    w.undo();
    expect(r.catchUp()).toBe(true);
    expect(r.get('b')).toBeNull();
    expect(r.canRedo).toBe(true);
    // The writer takes back a line it could not fsync, after we read it: we are told to reopen.
    const good = fs.statSync(f).size;
    fs.appendFileSync(f, '{"seq":4,"at":"2026-01-01T00:00:00Z","op":"apply","paths":["c"],"action":{"kind":"ood"}}\n');
    expect(r.catchUp()).toBe(true);
    fs.truncateSync(f, good);
    expect(r.catchUp()).toBeNull();
    w.close();
    r.close();
  });
});

// A real full file system: a tiny tmpfs. Needs root and permission to mount (CI containers often
// lack it); where that is refused the test is reported as SKIPPED, never as passed.
const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-tmpfs-'));
let mounted = false;
let whyNot = '';
if (process.platform === 'linux' && process.getuid?.() === 0) {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'pipe' });
    mounted = true;
  } catch (e) {
    whyNot = String((e as { stderr?: Buffer }).stderr ?? e)
      .trim()
      .split('\n')[0];
  }
} else whyNot = 'not root on Linux';
if (!mounted)
  console.warn(
    `project-journal-durability: real full-disk test DID NOT RUN (cannot mount tmpfs: ${whyNot}); it is skipped, not passed`,
  );
afterAll(() => {
  if (mounted) {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]);
    }
  } // lazy: detaches even if busy
  fs.rmSync(mnt, { recursive: true, force: true });
});

describe('journal on a real full disk (tmpfs)', () => {
  it.skipIf(!mounted)(
    'fill the disk, a 300-image batch fails (ENOSPC), free space, one more decision: all acknowledged ones survive reopen',
    () => {
      const f = path.join(mnt, 'journal.jsonl');
      const j = Journal.open(f);
      j.apply(['a/1.png'], { kind: 'accept' });
      const snap = fs.readFileSync(f);
      // Fill the file system up to a few hundred bytes, so the batch's line lands partly.
      const filler = path.join(mnt, 'filler');
      const fd = fs.openSync(filler, 'w');
      const chunk = Buffer.alloc(4096, 1);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      try {
        for (;;) fs.writeSync(fd, chunk, 0, 1);
      } catch {
        /* the last bytes */
      }
      fs.closeSync(fd);
      let err: unknown;
      try {
        j.apply(big(300), { kind: 'ood' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(JournalWriteError);
      expect((err as JournalWriteError).code).toBe('ENOSPC');
      expect(fs.readFileSync(f).equals(snap)).toBe(true);
      fs.rmSync(filler);
      j.apply(['a/2.png'], { kind: 'override', label: 'b' });
      j.close();
      const k = Journal.open(f);
      expect(k.warnings).toEqual([]);
      expect(Object.fromEntries(k.decisions)).toEqual({
        'a/1.png': { kind: 'accept' },
        'a/2.png': { kind: 'override', label: 'b' },
      });
      k.close();
    },
  );
});
