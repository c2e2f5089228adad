// Job process entry (job-runner.ts): runs one training or prediction job and streams EngineEvents to
// the parent. Started by child_process.fork (IPC through process.send) or by Electron's utilityProcess
// (process.parentPort). Protocol: FromJob / ToJob in job-runner.ts.
import { runTraining } from './train/train-run';
import { runPredict } from './eval/predict';
import type { FromJob, JobSpec, ToJob } from './job-runner';
import type { EngineEvent } from './types';

interface ParentPort {
  postMessage(m: unknown): void;
  on(ev: 'message', cb: (e: { data: unknown }) => void): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
const send: (m: FromJob) => void = parentPort
  ? (m) => parentPort.postMessage(m)
  : process.send
    ? (m) => {
        process.send!(m);
      }
    : () => {
        throw new Error('engine/worker.ts runs as a job process (child_process.fork or utilityProcess), not directly');
      };
const onMessage = (cb: (m: ToJob) => void) =>
  parentPort ? parentPort.on('message', (e) => cb(e.data as ToJob)) : process.on('message', (m) => cb(m as ToJob));

// The parent decides when to stop (after a checkpoint): a terminal's Ctrl-C reaches the whole process
// group, and the CLI turns the first one into a stop request.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
// The parent is gone (killed): nobody reads our events or will ask us to stop. Files are written
// atomically, so leaving between steps is as safe as the kill the parent got.
process.on('disconnect', () => process.exit(1));

// Test-only fault injection (tests/integration/engine-job-crash.test.ts): die mid-run the way a native
// crash would, after the first training step.
const crash = process.env.MOPRO_ENGINE_TEST_CRASH;

let stop = false;
let started = false;
const emit = (event: EngineEvent) => {
  send({ type: 'event', event });
  if (crash && event.type === 'step') {
    if (crash === 'abort') process.abort();
    process.exit(3);
  }
};

async function run(job: JobSpec): Promise<void> {
  try {
    const result =
      job.kind === 'train'
        ? await runTraining(job.opts as never, emit, { shouldStop: () => stop, overrides: job.overrides as never })
        : await runPredict(job.opts as never, emit);
    send({ type: 'done', result });
  } catch (e) {
    send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
}

onMessage((m) => {
  if (m?.type === 'stop') stop = true;
  else if (m?.type === 'exit') process.exit(0);
  else if (m?.type === 'start' && !started) {
    started = true;
    void run(m.job);
  }
});
send({ type: 'ready' });
