// The online cleaning rule (noise-cleaning.ts cleanRule) as tensor ops for the training step.
import * as tf from '@tensorflow/tfjs';

/**
 * cleanRule (noise-cleaning.ts) on tensors, for the training step, which then reads back once per step instead of
 * stopping mid-step for p and s (a GPU backend would stall, and webgpu cannot read synchronously).
 * Returns B x 2: column 0 the training label (argmax q when max q > T, else the given one; fixed rows
 * keep theirs), column 1 the clean mask (keep || corr, or fixed). It sits behind tf.customGrad with
 * zero gradients: the decision is a constant for the loss, as the JS rule's labels were.
 * Same comparisons as cleanRule, in float32 (a q exactly at a threshold may land on the other side).
 */
export function cleanRuleTensor(
  logits: tf.Tensor2D,
  protoLogits: tf.Tensor2D,
  given: tf.Tensor1D,
  fixed: tf.Tensor1D,
  K: number,
  alpha: number,
  T: number,
): tf.Tensor2D {
  const rule = tf.customGrad((lg, pl) => {
    const q = tf.add(tf.mul(tf.softmax(lg as tf.Tensor2D), alpha), tf.mul(tf.softmax(pl as tf.Tensor2D), 1 - alpha));
    const keep = tf.greater(tf.sum(tf.mul(q, tf.oneHot(given, K)), 1), 1 / K);
    const corr = tf.greater(tf.max(q, 1), T);
    const isFixed = tf.greater(fixed, 0.5);
    const label = tf.where(tf.logicalAnd(corr, tf.logicalNot(isFixed)), tf.argMax(q, 1), given);
    const mask = tf.logicalOr(tf.logicalOr(keep, corr), isFixed);
    return {
      value: tf.stack([tf.cast(label, 'float32'), tf.cast(mask, 'float32')], 1),
      gradFunc: () => [tf.zerosLike(lg as tf.Tensor), tf.zerosLike(pl as tf.Tensor)],
    };
  });
  return rule(logits, protoLogits) as tf.Tensor2D;
}
