// Frozen-encoder features for the post-training tools (cRT, low-shot probe) and the batches every eval-mode
// pass feeds the encoder: decoded uint8 pixel rows -> a normalised float batch.
import * as tf from '@tensorflow/tfjs';
import { EMBED_DIM, featureDim, forward, type Encoder } from '../nets/model';
import { readEach, readEachSync, type ReadPass } from '../backends/read-back';
import { finalChunk } from './final-pass';
import { readRows, type Pixels } from '../../dataset/pixel-source';

export interface FeatureOut {
  feat: Float32Array;
  logits: Float32Array;
  emb: Float32Array;
  dim: number;
}

/**
 * Rows `rows` of `pixels` (a source, or one N x size x size x channels uint8 array) as one batch scaled to [0,1] and normalised with the
 * run's per-channel mean/std (given as tensors so a pass over many batches creates them once).
 */
export function pixelBatch(
  pixels: Pixels,
  rows: ArrayLike<number>,
  size: number,
  channels: number,
  mean: tf.Tensor1D,
  std: tf.Tensor1D,
): tf.Tensor4D {
  const per = size * size * channels,
    m = rows.length,
    px = readRows(pixels, rows, per),
    buf = new Float32Array(m * per);
  for (let t = 0; t < m * per; t++) buf[t] = px[t] / 255;
  return tf.tidy(() => {
    return tf.div(tf.sub(tf.tensor4d(buf, [m, size, size, channels]), mean), std) as tf.Tensor4D;
  });
}

/** The rows `rows` of a row-major n x dim matrix, in that order. */
export function gatherRows(src: Float32Array, rows: ArrayLike<number>, dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let j = 0; j < rows.length; j++) out.set(src.subarray(rows[j] * dim, (rows[j] + 1) * dim), j * dim);
  return out;
}

export interface FeatureOptions {
  flip?: boolean;
  chunk?: number;
  onProgress?: (done: number) => void;
}

/**
 * Eval-mode pass over rows[j] of `pixels` returning pooled backbone features with logits and embeddings.
 * flip mirrors every image left-right (the one augmentation a frozen-feature head can afford to precompute).
 */
export function extractFeatures(...a: Parameters<typeof featurePass>): FeatureOut {
  return readEachSync(featurePass(...a));
}

/** extractFeatures reading each chunk back with `await data()` (runs on webgpu too); the same numbers. */
export function extractFeaturesAsync(...a: Parameters<typeof featurePass>): Promise<FeatureOut> {
  return readEach(featurePass(...a));
}

/** The feature pass: yields each chunk's [logits | embeddings | features] rows as one tensor (one read). */
function* featurePass(
  enc: Encoder,
  pixels: Pixels,
  rows: ArrayLike<number>,
  size: number,
  channels: number,
  norm: { mean: number[]; std: number[] },
  opts: FeatureOptions = {},
): ReadPass<FeatureOut> {
  const n = rows.length,
    chunk = opts.chunk ?? finalChunk(size), // bounded activations at any size: 20 images per tidy at 224 px
    K = enc.numClasses,
    d = EMBED_DIM,
    F = featureDim(enc.arch),
    W = K + d + F;
  const logits = new Float32Array(n * K),
    emb = new Float32Array(n * d),
    feat = new Float32Array(n * F);
  const mean = tf.tensor1d(norm.mean),
    std = tf.tensor1d(norm.std);
  try {
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const all: Float32Array = yield tf.tidy(() => {
        const x = pixelBatch(
          pixels,
          Array.from({ length: m }, (_, j) => rows[s + j]),
          size,
          channels,
          mean,
          std,
        );
        const o = forward(enc, opts.flip ? (tf.reverse(x, 2) as tf.Tensor4D) : x, false);
        return tf.concat([o.logits, o.emb, o.feat], 1);
      });
      for (let r = 0; r < m; r++) {
        const at = r * W,
          i = s + r;
        logits.set(all.subarray(at, at + K), i * K);
        emb.set(all.subarray(at + K, at + K + d), i * d);
        feat.set(all.subarray(at + K + d, at + W), i * F);
      }
      opts.onProgress?.(s + m);
    }
  } finally {
    mean.dispose();
    std.dispose();
  }
  return { feat, logits, emb, dim: F };
}
