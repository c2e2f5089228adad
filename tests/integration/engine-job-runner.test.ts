// The job runner's protocol with a scripted process (ready -> start, events, stop, done -> exit; an
// error; a death before done with the stderr reason), run.json marking, entry/loader paths under
// spaces, non-ASCII letters and drive letters, and the Electron utilityProcess adapter driven by a
// real Node child that talks through a utilityProcess-style parentPort.
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  exitReason,
  jobEntry,
  markRunFailed,
  runJob,
  tsxImportArg,
  type FromJob,
  type JobProcess,
  type ToJob,
} from '../../src-main/engine/job-runner';
import { utilityProcessSpawner, type UtilityProcessModule } from '../../src-main/app/engine-process';
import type { EngineEvent } from '../../src-main/engine/types';

class ScriptedProc implements JobProcess {
  sent: ToJob[] = [];
  killed = false;
  private msg: ((m: FromJob) => void)[] = [];
  private exit: ((c: number | null, s: string | null) => void)[] = [];
  private err: ((s: string) => void)[] = [];
  send(m: ToJob) {
    this.sent.push(m);
  }
  onMessage(cb: (m: FromJob) => void) {
    this.msg.push(cb);
  }
  onExit(cb: (c: number | null, s: string | null) => void) {
    this.exit.push(cb);
  }
  onStderr(cb: (s: string) => void) {
    this.err.push(cb);
  }
  kill() {
    this.killed = true;
  }
  say(m: FromJob) {
    for (const cb of this.msg) cb(m);
  }
  die(code: number | null, signal: string | null) {
    for (const cb of this.exit) cb(code, signal);
  }
  stderr(s: string) {
    for (const cb of this.err) cb(s);
  }
}

const entry = { file: '/x/worker.js', ts: false };
const step: EngineEvent = {
  type: 'step',
  epoch: 0,
  epochs: 1,
  step: 1,
  steps: 2,
  loss: 1,
  imagesPerSec: 5,
  etaSeconds: 1,
};

describe('runJob protocol', () => {
  it('starts the job only after ready, streams events, sends stop, resolves on done and then asks the process to exit', async () => {
    const p = new ScriptedProc();
    const events: EngineEvent[] = [];
    const job = runJob<{ ok: number }>(
      { kind: 'train', opts: { a: 1 } },
      (e) => events.push(e),
      () => p,
      entry,
    );
    expect(p.sent).toEqual([]);
    p.say({ type: 'ready' });
    expect(p.sent).toEqual([{ type: 'start', job: { kind: 'train', opts: { a: 1 } } }]);
    p.say({ type: 'event', event: step });
    job.stop();
    expect(p.sent.at(-1)).toEqual({ type: 'stop' });
    p.say({ type: 'done', result: { ok: 1 } });
    await expect(job.done).resolves.toEqual({ ok: 1 });
    expect(events).toEqual([step]);
    expect(p.sent.at(-1)).toEqual({ type: 'exit' });
    p.die(0, null); // the normal exit after done changes nothing
    p.say({ type: 'event', event: step });
    expect(events).toHaveLength(1);
  });
  it('an error message rejects with that message', async () => {
    const p = new ScriptedProc();
    const job = runJob(
      { kind: 'predict', opts: {} },
      () => {},
      () => p,
      entry,
    );
    p.say({ type: 'ready' });
    p.say({ type: 'error', message: '/data/run: no model/ folder' });
    await expect(job.done).rejects.toThrow('/data/run: no model/ folder');
  });
  it('a death before done rejects with how it died and the last stderr lines', async () => {
    const p = new ScriptedProc();
    const job = runJob(
      { kind: 'train', opts: {} },
      () => {},
      () => p,
      entry,
    );
    p.say({ type: 'ready' });
    p.stderr('warming up\n');
    p.stderr('terminate called after throwing an instance of std::bad_alloc\n  what():  std::bad_alloc\n');
    p.die(null, 'SIGABRT');
    await expect(job.done).rejects.toThrow(
      /^the engine process was killed by SIGABRT before finishing: terminate called .*bad_alloc \| what\(\): {2}std::bad_alloc$/,
    );
  });
  it('exit reasons: code, abort code, signal', () => {
    expect(exitReason(3, null, '')).toBe('the engine process exited with code 3 before finishing');
    expect(exitReason(134, null, '')).toMatch(/aborted \(exit code 134\)/);
    expect(exitReason(null, 'SIGKILL', '\n\n')).toBe('the engine process was killed by SIGKILL before finishing');
  });
});

describe('markRunFailed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-mark-'));
  it('a running run.json becomes failed with the reason; done, missing and foreign ones are left alone', () => {
    const run = { version: 1, state: 'running', dataset: '/data/ds', config: { epochs: 2 }, epochs: [1] };
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify(run));
    markRunFailed(dir, 'boom');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'))).toEqual({
      ...run,
      state: 'failed',
      error: 'boom',
    });
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ ...run, state: 'done' }));
    markRunFailed(dir, 'boom');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')).state).toBe('done');
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ state: 'running' })); // not the engine's
    markRunFailed(dir, 'boom');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'))).toEqual({ state: 'running' });
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    markRunFailed(empty, 'boom');
    expect(fs.readdirSync(empty)).toEqual([]);
  });
});

describe('job entry and loader paths', () => {
  it('decodes a module URL under spaces and non-ASCII letters (POSIX)', () => {
    const mod = pathToFileURL('/opt/Mo Pro Stüdio/src-main/engine/index.ts').href;
    expect(mod).toContain('Mo%20Pro%20St%C3%BCdio'); // what a .pathname would have kept
    expect(jobEntry(mod, () => false, path.posix)).toEqual({
      file: '/opt/Mo Pro Stüdio/src-main/engine/worker.ts',
      ts: true,
    });
    // built: out/main/chunks/index-abc.js next to out/main/worker.js
    const built = pathToFileURL('/opt/Mo Pro Stüdio/resources/app.asar/out/main/chunks/index-abc.js').href;
    expect(
      jobEntry(built, (f) => f === '/opt/Mo Pro Stüdio/resources/app.asar/out/main/worker.js', path.posix),
    ).toEqual({ file: '/opt/Mo Pro Stüdio/resources/app.asar/out/main/worker.js', ts: false });
  });
  it('turns a Windows file URL into a drive-letter path', () => {
    const mod = 'file:///C:/Users/Zo%C3%AB/AppData/Local/Programs/MoPro%20Studio/resources/app.asar/out/main/index.js';
    const want = 'C:\\Users\\Zoë\\AppData\\Local\\Programs\\MoPro Studio\\resources\\app.asar\\out\\main\\worker.js';
    expect(jobEntry(mod, (f) => f === want, path.win32)).toEqual({ file: want, ts: false });
  });
  it("node's --import gets tsx as a file URL that points at the installed loader", () => {
    const arg = tsxImportArg();
    expect(arg.startsWith('file://')).toBe(true);
    expect(fs.existsSync(fileURLToPath(arg))).toBe(true);
  });
});

describe('Electron utilityProcess adapter', () => {
  // A stand-in for electron.utilityProcess: a real Node child whose process.parentPort behaves like a
  // utility process's (messages arrive as { data }), so worker.ts takes its utilityProcess branch.
  const parentPortShim = `data:text/javascript,${encodeURIComponent("process.parentPort = { postMessage: (m) => process.send(m), on: (ev, cb) => process.on('message', (data) => cb({ data })) };")}`;
  const forked: { modulePath: string; options: unknown }[] = [];
  const fakeUtility: UtilityProcessModule = {
    fork(modulePath, args, options) {
      forked.push({ modulePath, options });
      const child = fork(modulePath, args ?? [], {
        execArgv: ['--import', tsxImportArg(), '--import', parentPortShim],
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      });
      const up = new EventEmitter() as EventEmitter & {
        postMessage(m: unknown): void;
        kill(): boolean;
        stderr: NodeJS.ReadableStream | null;
      };
      up.postMessage = (m) => {
        child.send(m as never);
      };
      up.kill = () => child.kill('SIGKILL');
      up.stderr = child.stderr;
      child.on('message', (m) => up.emit('message', m));
      child.on('close', (code) => up.emit('exit', code ?? 1));
      return up as never;
    },
  };
  const workerTs = path.resolve(import.meta.dirname, '../../src-main/engine/worker.ts');

  it('refuses a TypeScript entry (the app runs the built one)', () => {
    expect(() => utilityProcessSpawner(fakeUtility)({ file: workerTs, ts: true })).toThrow(/build the app first/);
  });
  it('runs a job through parentPort and brings its error back', async () => {
    const missing = path.join(os.tmpdir(), 'mopro-no-such-run-' + process.pid);
    const job = runJob(
      { kind: 'predict', opts: { run: missing, folder: missing, out: path.join(missing, 'p.csv'), backend: 'cpu' } },
      () => {},
      utilityProcessSpawner(fakeUtility),
      { file: workerTs, ts: false },
    );
    await expect(job.done).rejects.toThrow(new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    expect(forked).toEqual([
      { modulePath: workerTs, options: { serviceName: 'MoPro Studio engine', stdio: ['ignore', 'inherit', 'pipe'] } },
    ]);
  }, 60_000);
});
