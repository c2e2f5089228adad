// Shuffle-BN substitute for one device (mopro.md §6.9): the key encoder runs in train mode, so its BN would
// normalise the keys with the statistics of the very batch the query encoder sees, a shortcut the instance
// loss can exploit. MoCo's multi-GPU cure permutes the batch across devices before the key forward; here
// the key batch is permuted and split into `groups` sub-batches, each normalised with its own statistics,
// and the keys are put back in batch order.
import * as tf from '@tensorflow/tfjs';
import { forward, type Encoder } from '../nets/model';
import type { Rng } from '../../../src-shared/rng';

/** rows [lo, hi) of an n-row batch in a random order, as local indices 0..hi-lo-1. The permutation is drawn
 *  over the whole batch so every data-parallel replica consumes the same random numbers. */
export function keyGroupOrder(rng: Rng, n: number, lo: number, hi: number): Int32Array {
  const p = rng.permutation(n),
    out = new Int32Array(hi - lo);
  let j = 0;
  for (const i of p) if (i >= lo && i < hi) out[j++] = i - lo;
  return out;
}

/**
 * Key embeddings of x (train-mode BN) with BN statistics per group of rows: x's rows taken in `order`,
 * split into `groups` nearly equal consecutive groups, each forwarded alone; the result is in x's row order.
 * Only the first group moves the running statistics, so they are updated once per step as with one forward
 * (as each DDP rank updates its own buffers from its sub-batch). groups <= 1: one plain forward, no shuffle.
 */
export function groupedKeyForward(enc: Encoder, x: tf.Tensor4D, groups: number, order?: Int32Array): tf.Tensor2D {
  const m = x.shape[0],
    g = Math.min(Math.floor(groups), m);
  if (g <= 1 || !order) return forward(enc, x, true).emb;
  return tf.tidy(() => {
    const xs = tf.gather(x, tf.tensor1d(order, 'int32')) as tf.Tensor4D;
    const parts: tf.Tensor2D[] = [];
    for (let k = 0; k < g; k++) {
      const a = Math.floor((k * m) / g),
        b = Math.floor(((k + 1) * m) / g);
      parts.push(forward(enc, tf.slice(xs, a, b - a), true, k === 0).emb);
    }
    const inv = new Int32Array(m);
    for (let i = 0; i < m; i++) inv[order[i]] = i;
    return tf.gather(tf.concat(parts, 0), tf.tensor1d(inv, 'int32')) as tf.Tensor2D;
  });
}
