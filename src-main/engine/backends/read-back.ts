// One pass over batches, two ways to read its tensors back. webgpu in Node reads only asynchronously
// (its readSync needs a browser canvas), while the trainer's final pass and the tests call these passes
// synchronously. So a pass is written once, as a generator that yields one tensor per batch (everything
// it needs from that batch, in one read) and resumes with its values; `readEachSync` drives it with
// dataSync, `readEach` with `await data()`. Both give the same numbers: the ops are the same.
import * as tf from '@tensorflow/tfjs';

/** Whether the backend now set reads tensors back only asynchronously (webgpu in Node): its callers take the
 *  `await`ed twin of a pass (readEach), the others keep the synchronous one, which wasm's data-parallel and final
 *  passes rely on. */
export function readsOnlyAsync(): boolean {
  return tf.getBackend() === 'webgpu';
}

/** A pass that yields one tensor per batch and resumes with that tensor's values; returns R. */
export type ReadPass<R> = Generator<tf.Tensor, R, Float32Array>;

/** Runs the pass, reading each yielded tensor with dataSync (wasm, cpu, tensorflow). Disposes what it reads. */
export function readEachSync<R>(pass: ReadPass<R>): R {
  let r = pass.next(new Float32Array(0)); // the first value is ignored by the generator
  try {
    while (!r.done) {
      const t = r.value;
      let v: Float32Array;
      try {
        v = t.dataSync() as Float32Array;
      } finally {
        t.dispose();
      }
      r = pass.next(v);
    }
    return r.value;
  } finally {
    if (!r.done) pass.return(undefined as R); // runs the pass's finally blocks (its own disposals)
  }
}

/** Runs the pass, reading each yielded tensor with `await data()`: one read-back per batch, any backend. */
export async function readEach<R>(pass: ReadPass<R>): Promise<R> {
  let r = pass.next(new Float32Array(0));
  try {
    while (!r.done) {
      const t = r.value;
      let v: Float32Array;
      try {
        v = (await t.data()) as Float32Array;
      } finally {
        t.dispose();
      }
      r = pass.next(v);
    }
    return r.value;
  } finally {
    if (!r.done) pass.return(undefined as R);
  }
}
