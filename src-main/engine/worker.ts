// Worker-thread entry: runs a training or prediction job and streams EngineEvents to the parent.
// Messages in: {type:'stop'}. Messages out: {type:'event', event} | {type:'done', result} | {type:'error', message}.
import { parentPort, workerData } from 'node:worker_threads';
import { runTraining } from './train-run';
import { runPredict } from './predict';
import type { EngineEvent } from './types';

const port = parentPort;
if (!port) throw new Error('engine/worker.ts must run in a worker thread');
let stop = false;
port.on('message', (m: { type: string }) => { if (m?.type === 'stop') stop = true; });
const emit = (event: EngineEvent) => port.postMessage({ type: 'event', event });

const job = workerData as { kind: 'train' | 'predict'; opts: never; overrides?: never };
(async () => {
  try {
    const result = job.kind === 'train'
      ? await runTraining(job.opts, emit, { shouldStop: () => stop, overrides: job.overrides })
      : await runPredict(job.opts, emit);
    port.postMessage({ type: 'done', result });
  } catch (e) {
    port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
})();
