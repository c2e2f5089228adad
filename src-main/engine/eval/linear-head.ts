// A linear softmax classifier trained on fixed feature vectors: the shared core of cRT (mopro.md §5,
// classifier_retrain.py) and the low-shot probe. Features stay in one tensor; only W and b are variables.
import * as tf from '@tensorflow/tfjs';
import { MomentumSgd } from '../train/sgd';
import { readEach, readEachSync, type ReadPass } from '../backends/read-back';

export interface LinearHead {
  w: Float32Array;
  b: Float32Array;
  dim: number;
  K: number;
}

export interface HeadTrainOptions {
  epochs: number;
  batchSize: number;
  lr: (epoch: number) => number;
  momentum: number;
  weightDecay: number;
  /** Row order for an epoch (indices into the training rows); cRT resamples per class here. */
  order: (epoch: number) => Int32Array;
  /** Optional second view of every row (e.g. mirrored images); picked per row and epoch when given. */
  views?: Float32Array[];
  pickView?: () => number;
  init?: { w: Float32Array; b: Float32Array };
  onEpoch?: (epoch: number, loss: number) => void;
}

/** Trains W [dim,K], b [K] on x [n,dim] with integer labels y by momentum SGD on softmax cross-entropy. */
export function trainLinearHead(...a: Parameters<typeof headPass>): HeadTrainResult {
  return readEachSync(headPass(...a));
}

/** trainLinearHead reading each step's loss with `await data()` (runs on webgpu too); the same numbers. */
export function trainLinearHeadAsync(...a: Parameters<typeof headPass>): Promise<HeadTrainResult> {
  return readEach(headPass(...a));
}

export interface HeadTrainResult {
  head: LinearHead;
  losses: number[];
}

/** The head's training: yields each step's loss (one read per step), then W and b in one tensor. */
function* headPass(
  x: Float32Array,
  y: Int32Array,
  dim: number,
  K: number,
  o: HeadTrainOptions,
): ReadPass<HeadTrainResult> {
  const views = o.views ?? [x];
  // tidy disposes the initial values (a variable keeps its own copy; they would otherwise leak)
  const [w, b] = tf.tidy(() => [
    tf.variable(o.init ? tf.tensor2d(o.init.w, [dim, K]) : tf.zeros([dim, K]), true),
    tf.variable(o.init ? tf.tensor1d(o.init.b) : tf.zeros([K]), true),
  ]);
  const params = new Map<string, tf.Variable>([
    ['w', w],
    ['b', b],
  ]);
  const sgd = new MomentumSgd(o.momentum, o.weightDecay);
  const losses: number[] = [];
  try {
    for (let e = 0; e < o.epochs; e++) {
      const order = o.order(e),
        lr = o.lr(e);
      let sum = 0,
        cnt = 0;
      for (let s = 0; s + 1 <= order.length; s += o.batchSize) {
        const idx = order.subarray(s, Math.min(order.length, s + o.batchSize));
        const m = idx.length,
          buf = new Float32Array(m * dim),
          lab = new Int32Array(m);
        for (let r = 0; r < m; r++) {
          const src = views.length > 1 && o.pickView ? views[o.pickView()] : views[0];
          buf.set(src.subarray(idx[r] * dim, (idx[r] + 1) * dim), r * dim);
          lab[r] = y[idx[r]];
        }
        const loss: Float32Array = yield tf.tidy(() => {
          const xb = tf.tensor2d(buf, [m, dim]),
            yb = tf.oneHot(tf.tensor1d(lab, 'int32'), K);
          const { value, grads } = tf.variableGrads(
            () => tf.losses.softmaxCrossEntropy(yb, tf.add(tf.matMul(xb, w), b)) as tf.Scalar,
            [w, b],
          );
          sgd.step(
            params,
            new Map([
              ['w', grads[w.name]],
              ['b', grads[b.name]],
            ]),
            lr,
          );
          return value;
        });
        sum += loss[0] * m;
        cnt += m;
      }
      losses.push(sum / Math.max(1, cnt));
      o.onEpoch?.(e, losses[e]);
    }
    const wb: Float32Array = yield tf.tidy(() => tf.concat([tf.reshape(w, [-1]), b]));
    return { head: { w: wb.slice(0, dim * K), b: wb.slice(dim * K), dim, K }, losses };
  } finally {
    w.dispose();
    b.dispose();
    sgd.dispose();
  }
}

/** Logits x W + b on plain arrays (cheap at our sizes, and keeps callers free of tensors). */
export function headLogits(head: LinearHead, x: Float32Array, n: number): Float32Array {
  const { dim, K, w, b } = head,
    out = new Float32Array(n * K);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < K; k++) {
      let s = b[k];
      for (let t = 0; t < dim; t++) s += x[i * dim + t] * w[t * K + k];
      out[i * K + k] = s;
    }
  return out;
}

export function argmaxRows(logits: Float32Array, n: number, K: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let a = 0;
    for (let k = 1; k < K; k++) if (logits[i * K + k] > logits[i * K + a]) a = k;
    out[i] = a;
  }
  return out;
}
