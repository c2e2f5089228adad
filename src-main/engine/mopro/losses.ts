// The three MoPro losses (mopro.md §3) as tf ops. Masks instead of gathers: the masked mean keeps every
// op on the fast, gradient-complete path of every backend (no UnsortedSegmentSum needed) and a batch
// with no clean sample gives 0, not NaN (mopro.md §6.10). The terms' names and how they are shown are in
// src-shared/losses.ts; the trainer sums them into the total.
import * as tf from '@tensorflow/tfjs';

/** per-row cross-entropy -log softmax(logits)[target] */
export function rowCrossEntropy(logits: tf.Tensor2D, target: tf.Tensor1D, numClasses: number): tf.Tensor1D {
  const oh = tf.oneHot(target, numClasses);
  return tf.neg(tf.sum(tf.mul(oh, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
}

/** mean over rows with mask = 1; 0 when the mask is empty */
export function maskedMean(v: tf.Tensor1D, mask: tf.Tensor1D): tf.Scalar {
  return tf.div(tf.sum(tf.mul(v, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
}

/** L_ce: hard-label CE between classifier logits and (corrected) labels, clean samples only. */
export function ceLoss(logits: tf.Tensor2D, labels: tf.Tensor1D, mask: tf.Tensor1D): tf.Scalar {
  return maskedMean(rowCrossEntropy(logits, labels, logits.shape[1]), mask);
}

/** prototype logits (v . c_k) / tau; prototypes are constants (no gradient). */
export function protoLogits(emb: tf.Tensor2D, protos: tf.Tensor2D, tau: number): tf.Tensor2D {
  return tf.div(tf.matMul(emb, protos, false, true), tau) as tf.Tensor2D;
}

/** L_pro: CE over K prototype logits with the (corrected) label, clean samples only. */
export function protoLoss(
  emb: tf.Tensor2D,
  protos: tf.Tensor2D,
  labels: tf.Tensor1D,
  mask: tf.Tensor1D,
  tau: number,
): tf.Scalar {
  return ceLoss(protoLogits(emb, protos, tau), labels, mask);
}

/** L_ins: MoCo InfoNCE with logits [v.v', v.queue_j] / tau and target 0, over all samples.
 *  queue is d x Q (columns are keys), keys are the key encoder's embeddings (constants). */
export function instanceLoss(emb: tf.Tensor2D, keys: tf.Tensor2D, queue: tf.Tensor2D, tau: number): tf.Scalar {
  const pos = tf.sum(tf.mul(emb, keys), 1, true);
  const neg = tf.matMul(emb, queue);
  const logits = tf.div(tf.concat([pos, neg], 1), tau) as tf.Tensor2D;
  // target index 0 for every row: -log softmax(logits)[:,0]
  return tf.neg(tf.mean(tf.slice(tf.logSoftmax(logits), [0, 0], [-1, 1]))) as tf.Scalar;
}
