// Frozen-encoder features for the post-training tools (cRT, low-shot probe) and the batches every eval-mode
// pass feeds the encoder: decoded uint8 pixel rows -> a normalised float batch.
import * as tf from '@tensorflow/tfjs';
import { featureDim, type Encoder } from '../nets/model';
import { readEach, readEachSync, type ReadPass } from '../backends/read-back';
import { finalChunk, inferPass } from './final-pass';
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

/** The feature pass: the final pass's eval forward (inferPass, features unprojected) on normalised pixel rows. */
function* featurePass(
  enc: Encoder,
  pixels: Pixels,
  rows: ArrayLike<number>,
  size: number,
  channels: number,
  norm: { mean: number[]; std: number[] },
  opts: FeatureOptions = {},
): ReadPass<FeatureOut> {
  const mean = tf.tensor1d(norm.mean),
    std = tf.tensor1d(norm.std);
  try {
    const o = yield* inferPass(
      enc,
      rows.length,
      (idx) =>
        pixelBatch(
          pixels,
          Array.from(idx, (j) => rows[j]),
          size,
          channels,
          mean,
          std,
        ),
      opts.chunk ?? finalChunk(size), // bounded activations at any size: 20 images per tidy at 224 px
      opts.onProgress,
      { feat: true, flip: opts.flip },
    );
    return { feat: o.feat!, logits: o.logits, emb: o.emb, dim: featureDim(enc.arch) };
  } finally {
    mean.dispose();
    std.dispose();
  }
}
