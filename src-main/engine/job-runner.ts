// Runs one engine job (a training run or a prediction) in a process of its own and streams its
// EngineEvents back. A native abort or an out-of-memory kill then ends that process only: the app or
// server stays up, the job fails with the reason, and the next job starts with fresh native state
// (tfjs-node keeps one process-wide backend; a GPU device lost in one job does not poison the next).
// How the process is started is injectable: child_process.fork under Node (CLI, `serve`, tests);
// the Electron app passes Electron's utilityProcess (app/engine-process.ts), since a packaged app
// cannot run its binary as Node.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RUN_JSON } from '../../src-shared/run-format';
import type { RunJsonInput } from '../../src-shared/run-json';
import { writeAtomicSync } from '../util/atomic';
import { inspectRunFolder } from '../util/output-guard';
import type { EngineEvent } from './types';

/** Parent -> job: `start` once the job said `ready`, `stop` = stop after the next checkpoint, `exit` after `done`. */
export type ToJob = { type: 'start'; job: JobSpec } | { type: 'stop' } | { type: 'exit' };
/** Job -> parent. */
export type FromJob =
  | { type: 'ready' }
  | { type: 'event'; event: EngineEvent }
  | { type: 'done'; result: unknown }
  | { type: 'error'; message: string };

export interface JobSpec {
  kind: 'train' | 'predict';
  opts: unknown;
  overrides?: unknown;
}

/** A started job process, as the runner sees it: Node's ChildProcess and Electron's UtilityProcess both fit. */
export interface JobProcess {
  send(msg: ToJob): void;
  onMessage(cb: (msg: FromJob) => void): void;
  /** Called once when the process is gone (after its last message). */
  onExit(cb: (code: number | null, signal: string | null) => void): void;
  /** Its stderr, when piped: the last lines name a native abort's cause. */
  onStderr?(cb: (chunk: string) => void): void;
  kill(): void;
}

/** The job's entry module: a built .js, or the .ts source under tsx (dev, tests). */
export interface JobEntry {
  file: string;
  ts: boolean;
}
export type SpawnJob = (entry: JobEntry) => JobProcess;

/** Finds the job entry beside this module (src-main/engine/worker.ts, or out/main/worker.js when built). */
export function jobEntry(
  moduleUrl: string = import.meta.url,
  exists: (f: string) => boolean = fs.existsSync,
  p: typeof path = path,
): JobEntry {
  // fileURLToPath decodes (spaces, non-ASCII) and turns file:///C:/... into C:\... ; a URL's .pathname does neither.
  const here = p.dirname(fileURLToPath(moduleUrl, { windows: p === path.win32 }));
  // Built by electron-vite, this module may sit in out/main/chunks/ while the entry is out/main/worker.js.
  for (const dir of [here, p.dirname(here)]) {
    for (const name of ['worker.js', 'worker.mjs'])
      if (exists(p.join(dir, name))) return { file: p.join(dir, name), ts: false };
  }
  return { file: p.join(here, 'worker.ts'), ts: true };
}

/** node's --import wants a URL: an absolute path with spaces or a drive letter is not one. */
export function tsxImportArg(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

/** child_process.fork: stdout passes through, stderr is piped (and echoed) for the failure reason. */
export const forkJob: SpawnJob = (entry) => {
  const child = fork(entry.file, [], {
    // Not the parent's flags (an inspector port, vitest's loaders); only tsx for a .ts entry.
    execArgv: entry.ts ? ['--import', tsxImportArg()] : [],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  return {
    send: (m) => {
      if (child.connected) child.send(m);
    },
    onMessage: (cb) => {
      child.on('message', (m) => cb(m as FromJob));
    },
    // 'close' comes after the IPC channel and stderr are drained, so no message arrives after it.
    onExit: (cb) => {
      child.on('close', (code, signal) => cb(code, signal));
    },
    onStderr: (cb) => {
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => {
        process.stderr.write(s);
        cb(s);
      });
    },
    kill: () => {
      child.kill('SIGKILL');
    },
  };
};

/** The reason a job process died, for the run's error field and the API event. */
export function exitReason(code: number | null, signal: string | null, stderrTail: string): string {
  const how = signal
    ? `was killed by ${signal}`
    : code === 134
      ? 'aborted (exit code 134)'
      : `exited with code ${code}`;
  const last = stderrTail
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-2)
    .join(' | ')
    .slice(0, 300);
  return `the engine process ${how} before finishing${last ? `: ${last}` : ''}`;
}

/** After a failed training job: run.json says failed, with the reason (a run that never wrote one is left as is). */
export function markRunFailed(out: string, reason: string): void {
  const f = path.join(out, RUN_JSON);
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch {
    return;
  }
  // Only a run.json the engine wrote: a refused --out may hold someone else's file of that name.
  if (inspectRunFolder(out).kind !== 'run') return;
  if (j.state === 'done') return;
  const failed: Partial<RunJsonInput> = { state: 'failed', error: reason };
  writeAtomicSync(f, JSON.stringify({ ...j, ...failed }, null, 2));
}

export interface RunningJob<T> {
  stop(): void;
  done: Promise<T>;
}

/** Starts `job` in a new process and resolves with its result; rejects with the reason when it fails or dies. */
export function runJob<T>(
  job: JobSpec,
  onEvent: (e: EngineEvent) => void,
  spawn: SpawnJob = forkJob,
  entry: JobEntry = jobEntry(),
): RunningJob<T> {
  const proc = spawn(entry);
  let stderr = '';
  proc.onStderr?.((s) => {
    stderr = (stderr + s).slice(-4000);
  });
  const done = new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (ok: boolean, value: unknown) => {
      if (settled) return;
      settled = true;
      if (ok) resolve(value as T);
      else reject(value);
      proc.send({ type: 'exit' });
      // A job that does not leave on request (stuck in native code) is not left behind.
      setTimeout(() => proc.kill(), 10_000).unref();
    };
    proc.onMessage((m) => {
      if (m.type === 'ready') proc.send({ type: 'start', job });
      else if (m.type === 'event') {
        if (!settled) onEvent(m.event);
      } else if (m.type === 'done') finish(true, m.result);
      else if (m.type === 'error') finish(false, new Error(m.message));
    });
    proc.onExit((code, signal) => finish(false, new Error(exitReason(code, signal, stderr))));
  });
  return { stop: () => proc.send({ type: 'stop' }), done };
}
