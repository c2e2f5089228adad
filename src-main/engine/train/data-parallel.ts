// Data-parallel training on the CPU: N replicas of the trainer, this thread (rank 0) and N-1 worker_threads
// (replica-worker.ts), each with its own wasm backend. tfjs-backend-wasm runs one thread in Node (its
// threaded build hands Emscripten a Blob URL as the pthread worker), so this is how training uses more cores.
//
// Every replica holds the same weights, optimiser state, random stream and MoPro state. Per step:
//   - rank 0 writes the batch's rows and pixels to shared memory; every replica reads and augments its own rows
//     [lo, hi), drawing the random numbers of the whole batch (so the random stream, hence every view and the
//     next epoch's order, stays identical: augment.ts BatchRows);
//   - each computes its gradients; they are averaged (weighted by rows, in rank order, so every replica gets
//     the same bits) and every replica applies the same SGD step;
//   - the read-backs (embeddings, cleaning decision, losses, keys) are gathered in rank order, which is the
//     batch's order, so the queue, prototypes and class sums are updated with the whole batch on every replica.
// BatchNorm normalises over each replica's rows (DDP without SyncBN, as the official code). Each replica's running
// statistics follow its own half of every batch; before evaluation they are averaged into rank 0's (DDP would
// broadcast rank 0's alone: see averageRunningStats).
// Synchronisation is blocking (Atomics.wait) inside the step, so it needs a backend that reads synchronously.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { readRows, type PixelSource } from '../../dataset/pixel-source';
import type { EngineConfig } from './config';
import type { ReplicaLink, StepInfo, Trainer, TrainerState } from './trainer';

/** Rows [lo, hi) of a batch of B that replica `rank` of `size` computes. */
export function shardRange(B: number, rank: number, size: number): [number, number] {
  return [Math.floor((rank * B) / size), Math.floor(((rank + 1) * B) / size)];
}

// control words (Int32Array over a SharedArrayBuffer)
const C_COUNT = 0, // barrier arrivals
  C_GEN = 1, //      barrier generation
  C_ABORT = 2, //    0, or 1 + the rank that failed
  C_SEQ = 3, //      command sequence number
  C_CMD = 4, //      command code
  C_ROWS = 5, //     rows in this step's batch
  C_TENSORS = 8; //  + rank: tf.memory().numTensors after that replica's last step; + size + rank: its CPU ms
const CMD_STEP = 1,
  CMD_QUIT = 2,
  CMD_SNAPSHOT = 3;

export interface SharedBuffers {
  ctl: SharedArrayBuffer;
  grads: SharedArrayBuffer; //  size x gradLen float32 (one slot per rank)
  gather: SharedArrayBuffer; // size x gatherLen float32 ([length, values...] per rank)
  rows: SharedArrayBuffer; //   B int32: the batch's sample indices
  pixels: SharedArrayBuffer; // B x rowBytes uint8: their pixels
}

/** The replica side of the shared memory: a barrier, the gradient average and the read-back gather. */
export class SharedLink implements ReplicaLink {
  private readonly ctl: Int32Array;
  private readonly grads: Float32Array;
  private readonly gatherBuf: Float32Array;
  private readonly gradLen: number;
  private readonly gatherLen: number;
  constructor(
    readonly rank: number,
    readonly size: number,
    readonly buf: SharedBuffers,
  ) {
    this.ctl = new Int32Array(buf.ctl);
    this.grads = new Float32Array(buf.grads);
    this.gatherBuf = new Float32Array(buf.gather);
    this.gradLen = this.grads.length / size;
    this.gatherLen = this.gatherBuf.length / size;
  }

  private checkAbort(): void {
    const a = Atomics.load(this.ctl, C_ABORT);
    if (a) throw new Error(`data-parallel replica ${a - 1} failed`);
  }

  /** The rank that failed first, or null. */
  failedRank(): number | null {
    const a = Atomics.load(this.ctl, C_ABORT);
    return a ? a - 1 : null;
  }

  /** Marks the group failed and wakes every waiter (they throw instead of waiting for this replica). */
  abort(): void {
    Atomics.compareExchange(this.ctl, C_ABORT, 0, this.rank + 1);
    Atomics.notify(this.ctl, C_GEN);
    Atomics.notify(this.ctl, C_SEQ);
  }

  barrier(): void {
    this.checkAbort();
    const gen = Atomics.load(this.ctl, C_GEN);
    if (Atomics.add(this.ctl, C_COUNT, 1) === this.size - 1) {
      Atomics.store(this.ctl, C_COUNT, 0);
      Atomics.add(this.ctl, C_GEN, 1);
      Atomics.notify(this.ctl, C_GEN);
      return;
    }
    while (Atomics.load(this.ctl, C_GEN) === gen) {
      Atomics.wait(this.ctl, C_GEN, gen, 1000);
      this.checkAbort();
    }
  }

  reduceGrads(grads: Map<string, tf.Tensor>, weight: number): void {
    const names = [...grads.keys()];
    let len = 0;
    for (const n of names) len += grads.get(n)!.size;
    if (len > this.gradLen) throw new Error(`data-parallel: ${len} gradient values, room for ${this.gradLen}`);
    const mine = this.grads.subarray(this.rank * this.gradLen, this.rank * this.gradLen + len);
    let at = 0;
    for (const n of names) {
      const v = grads.get(n)!.dataSync();
      for (let i = 0; i < v.length; i++) mine[at + i] = v[i] * weight;
      at += v.length;
    }
    this.barrier();
    const sum = new Float32Array(len);
    for (let r = 0; r < this.size; r++) {
      const s = this.grads.subarray(r * this.gradLen, r * this.gradLen + len);
      for (let i = 0; i < len; i++) sum[i] += s[i];
    }
    at = 0;
    for (const n of names) {
      const g = grads.get(n)!;
      grads.set(n, tf.tensor(sum.subarray(at, at + g.size), g.shape, 'float32'));
      at += g.size;
    }
  }

  gatherStep(
    local: Float32Array,
    o: { rows: number; batch: number; d: number; decision: boolean; keys: boolean; losses: number },
  ): Float32Array {
    if (local.length + 1 > this.gatherLen)
      throw new Error(`data-parallel: ${local.length} read-back values, room for ${this.gatherLen - 1}`);
    const slot = this.rank * this.gatherLen;
    this.gatherBuf[slot] = o.rows;
    this.gatherBuf.set(local, slot + 1);
    this.barrier();
    const parts: { rows: number; v: Float32Array }[] = [];
    for (let r = 0; r < this.size; r++) {
      const s = r * this.gatherLen,
        rows = this.gatherBuf[s];
      const len = rows * o.d * (o.keys ? 2 : 1) + (o.decision ? 2 * rows : 0) + o.losses;
      parts.push({ rows, v: this.gatherBuf.slice(s + 1, s + 1 + len) });
    }
    return mergeReadBacks(parts, o);
  }
}

/** Read-backs of the replicas (rank order) as one batch's: per-sample blocks concatenated, losses averaged
 *  weighted by rows. Layout of each: emb (rows x d), [decision (rows x 2)], losses, [keys (rows x d)]. */
export function mergeReadBacks(
  parts: { rows: number; v: Float32Array }[],
  o: { batch: number; d: number; decision: boolean; keys: boolean; losses: number },
): Float32Array {
  const B = o.batch,
    d = o.d;
  const out = new Float32Array(B * d * (o.keys ? 2 : 1) + (o.decision ? 2 * B : 0) + o.losses);
  const decAt = B * d,
    lossAt = decAt + (o.decision ? 2 * B : 0),
    keyAt = lossAt + o.losses;
  let row = 0;
  for (const { rows, v } of parts) {
    out.set(v.subarray(0, rows * d), row * d);
    let at = rows * d;
    if (o.decision) {
      out.set(v.subarray(at, at + 2 * rows), decAt + 2 * row);
      at += 2 * rows;
    }
    for (let l = 0; l < o.losses; l++) out[lossAt + l] += (v[at + l] * rows) / B;
    at += o.losses;
    if (o.keys) out.set(v.subarray(at, at + rows * d), keyAt + row * d);
    row += rows;
  }
  if (row !== B) throw new Error(`data-parallel: gathered ${row} rows of a batch of ${B}`);
  return out;
}

/** A replica's pixels: its share [lo, hi) of the rows rank 0 put in shared memory for this step (checked against
 *  the rows asked for, which catches replicas whose epoch order drifted apart). */
export class StepPixels implements PixelSource {
  readonly n: number;
  private readonly ctl: Int32Array;
  private readonly rows: Int32Array;
  private readonly px: Uint8Array;
  constructor(
    buf: SharedBuffers,
    n: number,
    readonly rowBytes: number,
    /** this replica's rank and the replica count: it reads its own share of each step's rows */
    private readonly rank: number,
    private readonly size: number,
  ) {
    this.n = n;
    this.ctl = new Int32Array(buf.ctl);
    this.rows = new Int32Array(buf.rows);
    this.px = new Uint8Array(buf.pixels);
  }
  read(rows: ArrayLike<number>, out?: Uint8Array): Uint8Array {
    const m = Atomics.load(this.ctl, C_ROWS);
    const [lo, hi] = shardRange(m, this.rank, this.size);
    if (rows.length !== hi - lo)
      throw new Error(`data-parallel replica asked for ${rows.length} rows, its share of the step is ${hi - lo}`);
    for (let j = 0; j < rows.length; j++)
      if (rows[j] !== this.rows[lo + j])
        throw new Error(
          `data-parallel replica out of step: row ${lo + j} is ${rows[j]} here, ${this.rows[lo + j]} on rank 0`,
        );
    const o = out ?? new Uint8Array(rows.length * this.rowBytes);
    o.set(this.px.subarray(lo * this.rowBytes, hi * this.rowBytes));
    return o;
  }
  close(): void {}
}

/** Everything that must be equal on every replica: weights, BN statistics, optimiser state, trainer state. */
export interface TrainerSnapshot {
  tensors: Record<string, Float32Array>;
  state: Omit<TrainerState, 'protos'>;
  protos: Float32Array;
  queue: Float32Array | null;
  queuePtr: number;
}

export function snapshotTrainer(t: Trainer): TrainerSnapshot {
  const tensors: Record<string, Float32Array> = {};
  const put = (prefix: string, m: Map<string, tf.Variable>) => {
    for (const [n, v] of m) tensors[`${prefix}/${n}`] = v.dataSync() as Float32Array;
  };
  put('qp', t.query.params);
  put('qb', t.query.buffers);
  if (t.key) {
    put('kp', t.key.params);
    put('kb', t.key.buffers);
  }
  put('v', t.sgd.velocity);
  const { protos: _p, ...state } = t.state;
  return {
    tensors,
    state: { ...state, rngState: t.rng.state, perm: state.perm ? Int32Array.from(state.perm) : null },
    protos: Float32Array.from(t.protos),
    queue: t.queue ? Float32Array.from(t.queue.data) : null,
    queuePtr: t.queue?.ptr ?? 0,
  };
}

export function applySnapshot(t: Trainer, s: TrainerSnapshot): void {
  const set = (prefix: string, m: Map<string, tf.Variable>) => {
    for (const [n, v] of m) {
      const a = s.tensors[`${prefix}/${n}`];
      if (!a) throw new Error(`data-parallel snapshot lacks ${prefix}/${n}`);
      tf.tidy(() => v.assign(tf.tensor(a, v.shape, 'float32')));
    }
  };
  set('qp', t.query.params);
  set('qb', t.query.buffers);
  if (t.key) {
    set('kp', t.key.params);
    set('kb', t.key.buffers);
  }
  for (const v of t.sgd.velocity.values()) v.dispose();
  t.sgd.velocity.clear();
  for (const [n, v] of t.query.params) {
    const a = s.tensors[`v/${n}`];
    // tidy frees the initial value (the variable holds its own reference to the data)
    const velocity = a && tf.tidy(() => tf.variable(tf.tensor(a, v.shape, 'float32'), false));
    if (velocity) t.sgd.velocity.set(n, velocity);
  }
  t.protos = Float32Array.from(s.protos);
  if (t.queue && s.queue) {
    t.queue.data.set(s.queue);
    t.queue.ptr = s.queuePtr;
  }
  t.rng.state = s.state.rngState;
  t.state = { ...s.state, protos: t.protos };
}

/** Rows, pixels, labels: what a worker needs of the training data (the pixels arrive per step). */
export interface ReplicaData {
  n: number;
  h: number;
  w: number;
  c: number;
  labels: Int32Array;
  fixed: Uint8Array;
  trainIdx: Int32Array;
  numClasses: number;
}

export interface ReplicaInit {
  rank: number;
  size: number;
  cfg: EngineConfig;
  data: ReplicaData;
  norm: { mean: number[]; std: number[] };
  snapshot: TrainerSnapshot;
  buffers: SharedBuffers;
}

/** Messages a worker posts: ready after init, a snapshot when asked, or the error that stopped it. */
export type ReplicaMessage =
  | { type: 'ready' }
  | { type: 'snapshot'; rank: number; snapshot: TrainerSnapshot }
  | { type: 'error'; rank: number; message: string };

/** The worker entry: replica-worker.js beside this module (or one folder up) when built, else the .ts source,
 *  loaded through tsx's module hooks (registered inside the worker: execArgv --import does not reach workers). */
function startWorker(init: ReplicaInit): Worker {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, path.dirname(here)])
    for (const name of ['replica-worker.js', 'replica-worker.mjs'])
      if (fs.existsSync(path.join(dir, name))) return new Worker(path.join(dir, name), { workerData: init });
  const tsxDir = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(path.join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = pathToFileURL(path.join(here, 'replica-worker.ts')).href;
  return new Worker(
    `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
    { eval: true, workerData: init },
  );
}

/** Rank 0: owns the workers; `step()` replaces `trainer.step()`. */
export class DataParallel {
  private readonly ctl: Int32Array;
  private readonly rows: Int32Array;
  private readonly px: Uint8Array;
  private readonly errors: string[] = [];
  private readonly waiting = new Map<number, (s: TrainerSnapshot) => void>();
  private closed = false;

  private constructor(
    readonly trainer: Trainer,
    readonly size: number,
    private readonly buffers: SharedBuffers,
    private readonly workers: Worker[],
  ) {
    this.ctl = new Int32Array(buffers.ctl);
    this.rows = new Int32Array(buffers.rows);
    this.px = new Uint8Array(buffers.pixels);
    for (const w of workers)
      w.on('message', (m: ReplicaMessage) => {
        if (m.type === 'error') this.errors.push(`replica ${m.rank}: ${m.message}`);
        if (m.type === 'snapshot') this.waiting.get(m.rank)?.(m.snapshot);
      });
  }

  /** Starts size - 1 workers as copies of `trainer` (after any --init, --pretrained or resume). wasm only. */
  static async start(trainer: Trainer, size: number, norm: { mean: number[]; std: number[] }): Promise<DataParallel> {
    if (!(Number.isInteger(size) && size >= 2)) throw new Error(`data-parallel needs 2 or more replicas, got ${size}`);
    if (tf.getBackend() !== 'wasm')
      throw new Error(`data-parallel replicas run on wasm; this run uses ${tf.getBackend()}`);
    if (trainer.frozen) throw new Error('data-parallel does not train frozen-backbone heads (they are cheap already)');
    const B = trainer.cfg.batchSize,
      { h, w, c } = trainer.data;
    if (B < 2 * size) throw new Error(`batch ${B} is too small for ${size} replicas (at least 2 rows each)`);
    let gradLen = 0;
    for (const v of trainer.query.params.values()) gradLen += v.size;
    const d = trainer.protos.length / trainer.data.numClasses;
    const maxRows = Math.ceil(B / size);
    const gatherLen = 1 + maxRows * (2 * d + 2) + 16;
    const buffers: SharedBuffers = {
      ctl: new SharedArrayBuffer(4 * (C_TENSORS + 2 * size)),
      grads: new SharedArrayBuffer(4 * size * gradLen),
      gather: new SharedArrayBuffer(4 * size * gatherLen),
      rows: new SharedArrayBuffer(4 * B),
      pixels: new SharedArrayBuffer(B * h * w * c),
    };
    const snapshot = snapshotTrainer(trainer);
    const { labels, fixed, trainIdx, numClasses, n } = trainer.data;
    const data: ReplicaData = { n, h, w, c, labels, fixed, trainIdx, numClasses };
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let rank = 1; rank < size; rank++) {
      const wk = startWorker({ rank, size, cfg: trainer.cfg, data, norm, snapshot, buffers });
      workers.push(wk);
      ready.push(
        new Promise<void>((res, rej) => {
          wk.on('message', (m: ReplicaMessage) => {
            if (m.type === 'ready') res();
            if (m.type === 'error') rej(new Error(`data-parallel replica ${rank} did not start: ${m.message}`));
          });
          wk.once('error', (e: Error) => rej(new Error(`data-parallel replica ${rank} did not start: ${e.message}`)));
          wk.once('exit', (code) => rej(new Error(`data-parallel replica ${rank} exited (${code}) while starting`)));
        }),
      );
    }
    const dp = new DataParallel(trainer, size, buffers, workers);
    try {
      await Promise.all(ready);
    } catch (e) {
      await dp.close();
      throw e;
    }
    // blocked in Atomics.wait between steps, they must not keep a process alive that is done otherwise
    for (const wk of workers) wk.unref();
    trainer.replica = new SharedLink(0, size, buffers);
    return dp;
  }

  private command(code: number): void {
    Atomics.store(this.ctl, C_CMD, code);
    Atomics.add(this.ctl, C_SEQ, 1);
    Atomics.notify(this.ctl, C_SEQ);
  }

  /** One step of the global batch on all replicas. */
  async step(): Promise<StepInfo> {
    const t = this.trainer,
      B = t.cfg.batchSize;
    t.beginEpoch();
    const idx = t.state.perm!.subarray(t.state.step * B, (t.state.step + 1) * B);
    const { h, w, c } = t.data;
    this.rows.set(idx);
    readRows(t.data.pixels, idx, h * w * c, this.px);
    Atomics.store(this.ctl, C_ROWS, idx.length);
    this.command(CMD_STEP);
    try {
      const info = await t.step();
      recordStep(this.buffers, 0, this.size);
      return info;
    } catch (e) {
      const link = t.replica as SharedLink,
        other = link.failedRank();
      link.abort();
      // this thread's own error (e.g. a diverged loss, which every replica sees) is the reason as it is
      if (other === null || other === 0) {
        await this.close();
        throw e;
      }
      await new Promise((r) => setTimeout(r, 200)); // lets the failing replica's message arrive
      const why = this.errors.length ? this.errors.join('; ') : `replica ${other} failed`;
      await this.close();
      throw new Error(`data-parallel training failed: ${why}`);
    }
  }

  /** tf.memory().numTensors of each replica after its last step (rank order). */
  tensorCounts(): number[] {
    return Array.from({ length: this.size }, (_, r) => Atomics.load(this.ctl, C_TENSORS + r));
  }

  /** CPU milliseconds each replica's thread has used, as of its last step (rank order; -1 where unknown). */
  cpuMs(): number[] {
    return Array.from({ length: this.size }, (_, r) => Atomics.load(this.ctl, C_TENSORS + this.size + r));
  }

  /** Every worker's snapshot (rank 1..size-1), taken between steps: tests compare them with rank 0's. */
  async replicaSnapshots(): Promise<TrainerSnapshot[]> {
    const out = Array.from(
      { length: this.size - 1 },
      (_, i) => new Promise<TrainerSnapshot>((res) => this.waiting.set(i + 1, res)),
    );
    this.command(CMD_SNAPSHOT);
    const all = await Promise.all(out);
    this.waiting.clear();
    return all;
  }

  /**
   * Averages every replica's BatchNorm running statistics (mean and variance buffers of both encoders) into rank
   * 0's trainer, which the final pass evaluates. Each replica's statistics follow only its share of every batch,
   * so rank 0's alone are a noisier estimate than their mean; the variance is the mean of the variances (the
   * spread between the replicas' means is left out, as an all-reduce of the buffers leaves it out). Between steps.
   */
  async averageRunningStats(): Promise<void> {
    const others = await this.replicaSnapshots();
    const t = this.trainer;
    for (const [prefix, enc] of [
      ['qb', t.query],
      ['kb', t.key],
    ] as const) {
      if (!enc) continue;
      for (const [n, v] of enc.buffers) {
        const sum = Float64Array.from(v.dataSync() as Float32Array);
        for (const o of others) {
          const a = o.tensors[`${prefix}/${n}`];
          if (!a || a.length !== sum.length) throw new Error(`data-parallel snapshot lacks ${prefix}/${n}`);
          for (let i = 0; i < sum.length; i++) sum[i] += a[i];
        }
        const mean = Float32Array.from(sum, (x) => x / this.size);
        tf.tidy(() => v.assign(tf.tensor(mean, v.shape, 'float32')));
      }
    }
  }

  /** Stops the workers and detaches the trainer (it trains alone again). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.trainer.replica = null;
    this.command(CMD_QUIT);
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((res) => {
            const timer = setTimeout(() => void w.terminate().then(() => res()), 5000);
            w.once('exit', () => {
              clearTimeout(timer);
              res();
            });
          }),
      ),
    );
  }
}

/** The worker side's command wait: returns the next command code after `seen` (updates it). */
export function waitCommand(buf: SharedBuffers, seen: { seq: number }): 'step' | 'quit' | 'snapshot' {
  const ctl = new Int32Array(buf.ctl);
  while (Atomics.load(ctl, C_SEQ) === seen.seq) Atomics.wait(ctl, C_SEQ, seen.seq);
  seen.seq = Atomics.load(ctl, C_SEQ);
  const code = Atomics.load(ctl, C_CMD);
  if (Atomics.load(ctl, C_ABORT)) return 'quit';
  return code === CMD_STEP ? 'step' : code === CMD_SNAPSHOT ? 'snapshot' : 'quit';
}

/** The command sequence number now (a worker starts waiting from it). */
export function commandSeq(buf: SharedBuffers): number {
  return Atomics.load(new Int32Array(buf.ctl), C_SEQ);
}

/** A replica's record after a step: its tensor count and its thread's CPU time. */
export function recordStep(buf: SharedBuffers, rank: number, size: number): void {
  const ctl = new Int32Array(buf.ctl);
  Atomics.store(ctl, C_TENSORS + rank, tf.memory().numTensors);
  Atomics.store(ctl, C_TENSORS + size + rank, threadCpuMs() ?? -1);
}

/** CPU time of the calling thread in ms (Linux /proc/thread-self; null elsewhere). On a machine shared with other
 *  jobs wall time says little, while each replica's CPU time per step still bounds what two free cores would do. */
export function threadCpuMs(): number | null {
  try {
    const f = fs.readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return null;
  }
}
