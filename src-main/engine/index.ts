// Public entry of the engine: startTraining / predict run in a worker_threads Worker, so the UI or CLI
// thread never blocks on the (synchronous, CPU-heavy) tensor work, and stream EngineEvents back.
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';
import type { EngineConfig } from './config';
import type { PredictResult } from './predict';
import type { EngineEvent, PredictOptions, RunResult, TrainingHandle, TrainOptions } from './types';

export type { EngineEvent, PredictOptions, RunResult, TrainingHandle, TrainOptions } from './types';
export type { PredictResult } from './predict';

function workerFile(): { file: string; ts: boolean } {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // Built by electron-vite, this module may sit in out/main/chunks/ while the worker entry is out/main/worker.js.
  for (const dir of [here, path.dirname(here)]) {
    for (const name of ['worker.js', 'worker.mjs']) if (fs.existsSync(path.join(dir, name))) return { file: path.join(dir, name), ts: false };
  }
  return { file: path.join(here, 'worker.ts'), ts: true };
}

function spawn(data: unknown): Worker {
  const { file, ts } = workerFile();
  if (!ts) return new Worker(file, { workerData: data });
  // Under tsx a .ts worker needs the loader registered inside the worker first.
  const boot = `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(pathToFileURL(file).href)});`;
  return new Worker(boot, { eval: true, workerData: data, type: 'module' } as never);
}

function run<T>(data: unknown, onEvent: (e: EngineEvent) => void): { worker: Worker; done: Promise<T> } {
  const worker = spawn(data);
  const done = new Promise<T>((resolve, reject) => {
    let settled = false;
    worker.on('message', (m: { type: string; event?: EngineEvent; result?: T; message?: string }) => {
      if (m.type === 'event' && m.event) onEvent(m.event);
      else if (m.type === 'done') { settled = true; resolve(m.result as T); void worker.terminate(); }
      else if (m.type === 'error') { settled = true; reject(new Error(m.message)); void worker.terminate(); }
    });
    worker.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
    worker.on('exit', (code) => { if (!settled) { settled = true; reject(new Error(`engine worker exited with code ${code}`)); } });
  });
  return { worker, done };
}

/** Trains in a worker thread. `overrides` (not part of the CLI contract) sets engine config fields for tuning/tests. */
export function startTraining(opts: TrainOptions, onEvent: (e: EngineEvent) => void, overrides?: Partial<EngineConfig>): TrainingHandle {
  const { worker, done } = run<RunResult>({ kind: 'train', opts, overrides }, onEvent);
  return { stop: () => worker.postMessage({ type: 'stop' }), done };
}

export function predict(opts: PredictOptions, onEvent: (e: EngineEvent) => void = () => {}): Promise<PredictResult> {
  return run<PredictResult>({ kind: 'predict', opts }, onEvent).done;
}
