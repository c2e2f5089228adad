// Momentum SGD with coupled L2 weight decay, the PyTorch form used by MoPro (mopro.md §6.11):
//   g' = g + wd * w;  v = mu * v + g';  w = w - lr * v      (applied to every parameter, BN and biases too)
// TF.js's MomentumOptimizer has no weight decay, hence this small optimiser with inspectable state.
import * as tf from '@tensorflow/tfjs';

export class MomentumSgd {
  readonly velocity = new Map<string, tf.Variable>();
  constructor(
    public momentum = 0.9,
    public weightDecay = 1e-4,
  ) {}

  /** grads keyed like params; lr for this step. Disposes nothing it does not own. */
  step(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number): void {
    tf.tidy(() => {
      for (const [name, w] of params) {
        const g = grads.get(name);
        if (!g) continue;
        let v = this.velocity.get(name);
        if (!v) {
          v = tf.variable(tf.zerosLike(w), false);
          this.velocity.set(name, v);
        }
        const gd = this.weightDecay ? tf.add(g, tf.mul(w, this.weightDecay)) : g;
        const nv = tf.add(tf.mul(v, this.momentum), gd);
        v.assign(nv);
        w.assign(tf.sub(w, tf.mul(nv, lr)));
      }
    });
  }
  dispose(): void {
    for (const v of this.velocity.values()) v.dispose();
    this.velocity.clear();
  }
}

/** The same update on plain numbers (used by tests and as the reference definition). */
export function sgdStepScalar(
  w: number,
  g: number,
  v: number,
  lr: number,
  mu: number,
  wd: number,
): { w: number; v: number } {
  const nv = mu * v + g + wd * w;
  return { w: w - lr * nv, v: nv };
}
