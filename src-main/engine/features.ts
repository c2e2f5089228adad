// Frozen-encoder features for the post-training tools (cRT, low-shot probe): eval-mode forward over decoded
// pixel rows, optionally mirrored, returning the pooled backbone features next to logits and embeddings.
import * as tf from '@tensorflow/tfjs';
import { EMBED_DIM, featureDim, forward, type Encoder } from './model';

export interface FeatureOut { feat: Float32Array; logits: Float32Array; emb: Float32Array; dim: number }

/**
 * rows[j] indexes `pixels` (N x size x size x channels, uint8). mean/std: the run's input normalisation.
 * flip mirrors every image left-right (the one augmentation a frozen-feature head can afford to precompute).
 */
export function extractFeatures(enc: Encoder, pixels: Uint8Array, rows: ArrayLike<number>, size: number, channels: number,
  norm: { mean: number[]; std: number[] }, opts: { flip?: boolean; chunk?: number; onProgress?: (done: number) => void } = {}): FeatureOut {
  const n = rows.length, F = featureDim(enc.arch), K = enc.numClasses, d = EMBED_DIM, per = size * size * channels, chunk = opts.chunk ?? 256;
  const feat = new Float32Array(n * F), logits = new Float32Array(n * K), emb = new Float32Array(n * d);
  const mean = tf.tensor1d(norm.mean), std = tf.tensor1d(norm.std);
  try {
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      tf.tidy(() => {
        const buf = new Float32Array(m * per);
        for (let r = 0; r < m; r++) { const o = rows[s + r] * per; for (let t = 0; t < per; t++) buf[r * per + t] = pixels[o + t] / 255; }
        let x = tf.div(tf.sub(tf.tensor4d(buf, [m, size, size, channels]), mean), std) as tf.Tensor4D;
        if (opts.flip) x = tf.reverse(x, 2);
        const o = forward(enc, x, false);
        feat.set(o.feat.dataSync(), s * F);
        logits.set(o.logits.dataSync(), s * K);
        emb.set(o.emb.dataSync(), s * d);
      });
      opts.onProgress?.(s + m);
    }
  } finally { mean.dispose(); std.dispose(); }
  return { feat, logits, emb, dim: F };
}

/** Rows scaled to unit L2 norm (the low-shot protocol normalises frozen features before the linear classifier). */
export function l2NormaliseRows(x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0; for (let t = 0; t < d; t++) s += x[i * d + t] ** 2;
    const inv = 1 / Math.max(1e-12, Math.sqrt(s));
    for (let t = 0; t < d; t++) out[i * d + t] = x[i * d + t] * inv;
  }
  return out;
}
