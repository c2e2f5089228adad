// --freeze-backbone: the backbone's pooled features of every image and of its mirror image, computed once
// in eval mode (BN on the weights' running statistics) and cached on disk, keyed by the weights' sha256,
// the arch, the input normalisation and the decoded pixels of the whole image set. MoPro's heads then train
// on these features (trainer.ts `frozen`), and the final pass runs the heads on the view-0 features.
import * as tf from '@tensorflow/tfjs';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { extractFeaturesAsync } from '../eval/features';
import { EMBED_DIM, featureDim, headsForward, type Encoder } from '../nets/model';
import { readStore, writeStore } from '../nets/tensor-store';
import { readEach, readEachSync, type ReadPass } from '../backends/read-back';
import type { InferOut } from '../eval/final-pass';
import { readRows, type Pixels } from '../../dataset/pixel-source';

export interface FrozenFeatureResult {
  views: Float32Array[];
  dim: number;
  cached: boolean;
  key: string;
  file: string;
  seconds: number;
}

export interface FrozenFeatureOptions {
  cacheDir: string;
  /** sha256 of the weights the backbone holds */
  weightsSha256: string;
  onProgress?: (done: number, total: number) => void;
}

/** The cache key: everything the features depend on (weights, arch, size, channels, normalisation, pixels). */
export function frozenFeatureKey(
  enc: Encoder,
  pixels: Pixels,
  n: number,
  size: number,
  channels: number,
  norm: { mean: number[]; std: number[] },
  weightsSha256: string,
): string {
  const h = crypto.createHash('sha256');
  h.update(
    JSON.stringify({
      v: 1,
      weights: weightsSha256,
      arch: enc.arch,
      n,
      size,
      channels,
      mean: norm.mean,
      std: norm.std,
      views: ['image', 'mirror'],
    }),
  );
  // row by row in blocks (the same digest as one update over all rows): a streamed source is never whole in memory
  const per = size * size * channels;
  for (let s = 0; s < n; s += 1024) {
    const rows = Int32Array.from({ length: Math.min(1024, n - s) }, (_, j) => s + j);
    h.update(readRows(pixels, rows, per));
  }
  return h.digest('hex');
}

/** Reads back asynchronously (`await data()`), so it runs on webgpu as well as on wasm / cpu. */
export async function frozenFeatures(
  enc: Encoder,
  pixels: Pixels,
  n: number,
  size: number,
  channels: number,
  norm: { mean: number[]; std: number[] },
  o: FrozenFeatureOptions,
): Promise<FrozenFeatureResult> {
  const t0 = Date.now();
  const key = frozenFeatureKey(enc, pixels, n, size, channels, norm, o.weightsSha256);
  const dir = path.join(o.cacheDir, 'frozen-features'),
    base = key.slice(0, 32),
    file = path.join(dir, `${base}.bin`);
  const dim = featureDim(enc.arch);
  if (fs.existsSync(path.join(dir, `${base}.json`))) {
    try {
      const { meta, arrays } = readStore(dir, base);
      const v0 = arrays.get('view0'),
        v1 = arrays.get('view1');
      if (meta.key === key && v0 && v1 && v0.data.length === n * dim && v1.data.length === n * dim) {
        return { views: [v0.data, v1.data], dim, cached: true, key, file, seconds: (Date.now() - t0) / 1000 };
      }
    } catch {
      /* a damaged cache entry is recomputed and overwritten below */
    }
  }
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const f0 = await extractFeaturesAsync(enc, pixels, rows, size, channels, norm, {
    onProgress: (d) => o.onProgress?.(d, 2 * n),
  });
  const f1 = await extractFeaturesAsync(enc, pixels, rows, size, channels, norm, {
    flip: true,
    onProgress: (d) => o.onProgress?.(n + d, 2 * n),
  });
  try {
    writeStore(
      dir,
      base,
      { key, weights: o.weightsSha256, arch: enc.arch, n, size, channels, norm, createdAt: new Date().toISOString() },
      [
        { name: 'view0', shape: [n, dim], data: f0.feat },
        { name: 'view1', shape: [n, dim], data: f1.feat },
      ],
    );
  } catch {
    /* a full or read-only cache folder only costs the recomputation next time */
  }
  return { views: [f0.feat, f1.feat], dim, cached: false, key, file, seconds: (Date.now() - t0) / 1000 };
}

/** The heads on precomputed features, rows [0, n): the frozen-backbone final pass (same as inferAll on images). */
export function headsInferAll(...a: Parameters<typeof headsPass>): InferOut {
  return readEachSync(headsPass(...a));
}

/** headsInferAll reading each chunk back with `await data()` (webgpu too); the same ops, so the same numbers. */
export function headsInferAllAsync(...a: Parameters<typeof headsPass>): Promise<InferOut> {
  return readEach(headsPass(...a));
}

/** The heads over cached features as a read pass: each chunk's [logits | embeddings] rows in one tensor. */
function* headsPass(enc: Encoder, feat: Float32Array, n: number, dim: number, chunk = 1024): ReadPass<InferOut> {
  const K = enc.numClasses,
    d = EMBED_DIM;
  const logits = new Float32Array(n * K),
    emb = new Float32Array(n * d);
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const rows: Float32Array = yield tf.tidy(() => {
      const o = headsForward(enc, tf.tensor2d(feat.subarray(s * dim, (s + m) * dim), [m, dim]));
      return tf.concat([o.logits, o.emb], 1);
    });
    for (let i = 0; i < m; i++) {
      logits.set(rows.subarray(i * (K + d), i * (K + d) + K), (s + i) * K);
      emb.set(rows.subarray(i * (K + d) + K, (i + 1) * (K + d)), (s + i) * d);
    }
  }
  return { logits, emb, feat };
}

/** Per-dimension mean and standard deviation of the training rows' features (both views). */
export interface FeatureStandardiser {
  mean: Float32Array;
  std: Float32Array;
}

/**
 * Pooled features of pretrained nets are large (ResNet-18: L2 norm ~35 per image), so SGD at the engine's lr
 * on raw features makes the linear heads oscillate (cross-entropy in the hundreds, measured); the heads
 * therefore train on standardised features, and foldStandardiser moves the weights between the two spaces.
 */
export function featureStats(views: Float32Array[], rows: ArrayLike<number>, dim: number): FeatureStandardiser {
  const s = new Float64Array(dim),
    s2 = new Float64Array(dim);
  let n = 0;
  for (const v of views)
    for (let j = 0; j < rows.length; j++, n++) {
      const o = rows[j] * dim;
      for (let t = 0; t < dim; t++) {
        const x = v[o + t];
        s[t] += x;
        s2[t] += x * x;
      }
    }
  const mean = Float32Array.from(s, (x) => x / Math.max(1, n));
  const sd = Array.from(s2, (x, t) => Math.sqrt(Math.max(0, x / Math.max(1, n) - mean[t] ** 2)));
  // a floor relative to the typical spread: constant (dead) units are not blown up when folding back
  const floor = Math.max(1e-6, 1e-2 * (sd.reduce((a, b) => a + b, 0) / Math.max(1, dim)));
  return { mean, std: Float32Array.from(sd, (x) => Math.max(x, floor)) };
}

/**
 * The heads' first layers (classifier, projection) on raw features f <-> on standardised (f - mean) / std:
 * W'[i,:] = W[i,:] std_i, b' = b + sum_i mean_i W[i,:] (and back), so both compute the same outputs.
 */
export function foldStandardiser(enc: Encoder, st: FeatureStandardiser, to: 'standardised' | 'raw'): void {
  for (const layer of ['cls', 'proj1']) {
    const wv = enc.params.get(`${layer}/w`)!,
      bv = enc.params.get(`${layer}/b`)!;
    const [din, dout] = wv.shape as [number, number];
    const w = Float32Array.from(wv.dataSync() as Float32Array),
      b = Float32Array.from(bv.dataSync() as Float32Array);
    for (let i = 0; i < din; i++) {
      const f = to === 'standardised' ? st.std[i] : 1 / st.std[i];
      for (let o = 0; o < dout; o++) w[i * dout + o] *= f;
    }
    // b' = b + mean W (W the raw-space weights: before scaling when going to standardised, after when going back)
    const sign = to === 'standardised' ? 1 : -1;
    for (let i = 0; i < din; i++) {
      const m = st.mean[i],
        scale = to === 'standardised' ? 1 / st.std[i] : 1; // raw W[i,:] = w[i,:] * scale
      if (m === 0) continue;
      for (let o = 0; o < dout; o++) b[o] += sign * m * w[i * dout + o] * scale;
    }
    tf.tidy(() => {
      wv.assign(tf.tensor2d(w, [din, dout]));
      bv.assign(tf.tensor1d(b));
    });
  }
}
