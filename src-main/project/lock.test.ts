// The project writer lock: taken, shared within a process, released on close and on exit; a live
// holder makes the project read-only; a dead one (or a reused pid) is taken over with a note.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, readHolder, releaseLock } from './lock';
import { Project, projectDir, projectIdFor, ProjectReadOnlyError } from './project';
import { listScanner, writeRun } from '../../tests/fixtures/project';

const dirs: string[] = [];
const kids: ChildProcess[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-lock-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const k of kids.splice(0)) k.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A process that is alive until killed, and its /proc start time (Linux). */
function liveProcess(): { pid: number; procStart?: string; kill: () => Promise<void> } {
  const k = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  kids.push(k);
  let procStart: string | undefined;
  try {
    const st = fs.readFileSync(`/proc/${k.pid}/stat`, 'utf8');
    procStart = st.slice(st.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    /* not Linux */
  }
  return {
    pid: k.pid!,
    procStart,
    kill: () =>
      new Promise((r) => {
        k.once('exit', () => r());
        k.kill('SIGKILL');
      }),
  };
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const plant = (file: string, h: Record<string, unknown>) =>
  fs.writeFileSync(
    file,
    JSON.stringify({ since: '2026-01-01T00:00:00.000Z', token: 'theirs', host: os.hostname(), ...h }),
  );

describe('writer lock', () => {
  it('takes the lock (pid, host, time), shares it within the process, removes it on the last release', () => {
    const f = path.join(tmp(), 'writer.lock');
    expect(acquireLock(f)).toEqual({ ok: true, note: null });
    const h = readHolder(f)!;
    expect(h.pid).toBe(process.pid);
    expect(h.host).toBe(os.hostname());
    expect(Date.now() - Date.parse(h.since)).toBeLessThan(60_000);
    expect(acquireLock(f).ok).toBe(true);
    releaseLock(f);
    expect(fs.existsSync(f)).toBe(true);
    releaseLock(f);
    expect(fs.existsSync(f)).toBe(false);
  });

  it('a live holder keeps it; once that process is gone the lock is taken over with a note', async () => {
    const f = path.join(tmp(), 'writer.lock');
    const p = liveProcess();
    plant(f, { pid: p.pid, procStart: p.procStart });
    const r = acquireLock(f);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.holder.pid).toBe(p.pid);
    await p.kill();
    const r2 = acquireLock(f);
    expect(r2.ok).toBe(true);
    if (r2.ok)
      expect(r2.note).toMatch(
        new RegExp(
          `took over the project lock of process ${p.pid} on .* \\(since 2026-01-01T00:00:00.000Z\\), which is no longer running`,
        ),
      );
    expect(readHolder(f)!.pid).toBe(process.pid);
    releaseLock(f);
  });

  it('a dead pid, a reused pid (other start time) and an unreadable old lock are stale; another host is honoured', () => {
    const f = path.join(tmp(), 'writer.lock');
    plant(f, { pid: deadPid() });
    expect(acquireLock(f).ok).toBe(true);
    releaseLock(f);
    if (fs.existsSync('/proc/self/stat')) {
      const p = liveProcess();
      plant(f, { pid: p.pid, procStart: '1' }); // the pid is alive, but it is not the process that locked
      expect(acquireLock(f).ok).toBe(true);
      releaseLock(f);
    }
    fs.writeFileSync(f, '{"pid": 12'); // garbage, not from us: we never write a lock in place
    const old = (Date.now() - 60_000) / 1000;
    fs.utimesSync(f, old, old);
    const r = acquireLock(f);
    expect(r.ok && r.note).toMatch(/replaced an unreadable project lock/);
    releaseLock(f);
    plant(f, { pid: deadPid(), host: 'another-machine.example' });
    expect(acquireLock(f).ok).toBe(false);
  });

  it('is released when the process exits without closing', () => {
    const d = tmp();
    const f = path.join(d, 'writer.lock');
    const script = path.join(d, 'hold.ts');
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';\nimport { acquireLock } from ${JSON.stringify(path.resolve('src-main/project/lock.ts'))};\n` +
        `const r = acquireLock(${JSON.stringify(f)});\nprocess.stdout.write(String(r.ok && fs.existsSync(${JSON.stringify(f)})));\nprocess.exit(0);\n`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: path.resolve('.') });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('true');
    expect(fs.existsSync(f)).toBe(false);
  });
});

describe('project opened while another process writes it', () => {
  it('opens read-only with who and since, refuses decisions, never writes; takes over when that process is gone', async () => {
    const base = tmp();
    const root = path.join(base, 'ds');
    const dataDir = path.join(base, 'data');
    const id = projectIdFor(root);
    fs.mkdirSync(projectDir(dataDir, id), { recursive: true });
    const lock = path.join(projectDir(dataDir, id), 'writer.lock');
    const scan = listScanner(
      root,
      ['a', 'b'],
      [
        { rel: 'a/1.png', label: 'a' },
        { rel: 'b/2.png', label: 'b' },
      ],
    );
    // The "other process" wrote a decision and holds the lock.
    const p = liveProcess();
    plant(lock, { pid: p.pid, procStart: p.procStart });
    fs.writeFileSync(
      path.join(projectDir(dataDir, id), 'journal.jsonl'),
      '{"seq":1,"at":"2026-01-01T00:00:00Z","op":"apply","paths":["a/1.png"],"action":{"kind":"ood"}}\n',
    );
    const prj = await Project.open(root, dataDir, scan);
    expect(prj.readOnly).toBe(true);
    expect(prj.summary().openElsewhere).toEqual({ pid: p.pid, host: os.hostname(), since: '2026-01-01T00:00:00.000Z' });
    expect(prj.warnings.join()).toMatch(
      new RegExp(`open elsewhere \\(pid ${p.pid}, since 2026-01-01T00:00:00.000Z\\)`),
    );
    expect(prj.summary().reviewed).toBe(1); // it reads the other's decisions
    const journalBefore = fs.readFileSync(path.join(projectDir(dataDir, id), 'journal.jsonl'));
    expect(() => prj.apply([1], { kind: 'accept' })).toThrow(ProjectReadOnlyError);
    expect(() => prj.undo()).toThrow(
      /decisions refused: project "ds" is read-only here because it is open elsewhere \(pid \d+, since /,
    );
    expect(fs.readFileSync(path.join(projectDir(dataDir, id), 'journal.jsonl')).equals(journalBefore)).toBe(true);
    expect(fs.existsSync(path.join(projectDir(dataDir, id), 'project.json'))).toBe(false); // the writer owns it
    // The other writer appends while we watch.
    fs.appendFileSync(
      path.join(projectDir(dataDir, id), 'journal.jsonl'),
      '{"seq":2,"at":"2026-01-01T00:00:01Z","op":"apply","paths":["b/2.png"],"action":{"kind":"keep"}}\n',
    );
    prj.sync();
    expect(prj.summary().reviewed).toBe(2);
    await p.kill();
    expect(prj.apply([1], { kind: 'override', label: 'a' })).toBe(1); // takeover, then write
    expect(prj.readOnly).toBe(false);
    expect(prj.summary().openElsewhere).toBeNull();
    expect(prj.warnings.join()).toMatch(/took over the project lock/);
    expect(prj.journal.canUndo).toBe(true);
    expect(prj.undo()).toBe(1); // undoes our own batch (seq 3), not the other's
    expect(prj.journal.get('a/1.png')).toEqual({ kind: 'ood' });
    expect(prj.journal.get('b/2.png')).toEqual({ kind: 'keep' });
    prj.close();
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('a project that fails to open does not keep the lock', async () => {
    const base = tmp();
    const root = path.join(base, 'ds');
    const dataDir = path.join(base, 'data');
    const run = writeRun(
      path.join(base, 'run'),
      root,
      ['a'],
      [{ path: 'a/1.png', given: 'a', corrected: 'a', status: 'clean', confidence: 1, ood: 0 }],
    );
    fs.writeFileSync(path.join(run, 'samples.csv'), 'nonsense\n1\n');
    const scan = listScanner(root, ['a'], [{ rel: 'a/1.png', label: 'a' }]);
    await expect(Project.open(run, dataDir, scan)).rejects.toThrow(/samples\.csv: missing column/);
    expect(fs.existsSync(path.join(projectDir(dataDir, projectIdFor(root)), 'writer.lock'))).toBe(false);
  });

  it('an explicitly read-only open (CLI export) takes no lock and refuses decisions', async () => {
    const base = tmp();
    const root = path.join(base, 'ds');
    const dataDir = path.join(base, 'data');
    const scan = listScanner(root, ['a'], [{ rel: 'a/1.png', label: 'a' }]);
    const prj = await Project.open(root, dataDir, scan, { readOnly: true });
    expect(fs.existsSync(path.join(projectDir(dataDir, prj.id), 'writer.lock'))).toBe(false);
    expect(() => prj.apply([0], { kind: 'ood' })).toThrow(/opened read-only/);
    const w = await Project.open(root, dataDir, scan); // a writer is not blocked by it
    expect(w.readOnly).toBe(false);
    w.close();
    prj.close();
  });
});
