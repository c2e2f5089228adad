// A data-parallel replica (data-parallel.ts) in a worker_thread: its own wasm backend and a copy of the
// trainer, stepping when rank 0 says so, until told to quit.
import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend } from '../backends/backend';
import {
  applySnapshot,
  commandSeq,
  recordStep,
  SharedLink,
  snapshotTrainer,
  StepPixels,
  waitCommand,
  type ReplicaInit,
  type ReplicaMessage,
} from './data-parallel';
import { Trainer } from './trainer';

const init = workerData as ReplicaInit;
const post = (m: ReplicaMessage) => parentPort!.postMessage(m);
const link = new SharedLink(init.rank, init.size, init.buffers);

async function main(): Promise<void> {
  const seen = { seq: commandSeq(init.buffers) };
  await selectBackend('wasm');
  const { data, cfg } = init;
  const pixels = new StepPixels(init.buffers, data.n, data.h * data.w * data.c, init.rank, init.size);
  const trainer = new Trainer(cfg, { ...data, pixels }, init.norm);
  applySnapshot(trainer, init.snapshot);
  trainer.replica = link;
  post({ type: 'ready' });
  for (;;) {
    const cmd = waitCommand(init.buffers, seen);
    if (cmd === 'quit') break;
    if (cmd === 'snapshot') {
      post({ type: 'snapshot', rank: init.rank, snapshot: snapshotTrainer(trainer) });
      continue;
    }
    await trainer.step();
    recordStep(init.buffers, init.rank, init.size);
  }
  trainer.dispose();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    link.abort();
    post({ type: 'error', rank: init.rank, message: e instanceof Error ? e.message : String(e) });
    // leave time for the message to leave before the thread ends
    setTimeout(() => process.exit(1), 100);
  },
);
