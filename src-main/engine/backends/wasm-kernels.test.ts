// The wasm training kernels (wasm-kernels.ts) against tfjs's cpu backend, the reference: conv gradients for the
// strides, paddings and kernel sizes the nets use (the sub-pixel, zero-dilation and cropping paths of the input
// gradient, the leftover slice of the filter gradient), matMul with transpose flags, the BatchNorm gradient.
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src-shared/rng';
import { useBackend } from './test-backends';
import { conv2DBackpropFilterConfig, filterGradChunk, type FilterGradFormulation } from './wasm-kernels';

interface ConvCase {
  x: [number, number, number, number];
  k: number;
  co: number;
  stride: number | [number, number];
  pad: 'same' | 'valid';
}
const CONVS: ConvCase[] = [
  { x: [2, 8, 8, 3], k: 3, co: 4, stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], k: 3, co: 4, stride: 2, pad: 'same' }, //  sub-pixel input gradient
  { x: [2, 9, 9, 3], k: 3, co: 4, stride: 2, pad: 'same' }, //  odd size: zero-dilation path
  { x: [2, 9, 9, 2], k: 3, co: 3, stride: 2, pad: 'valid' }, // leftover row/col: sliced off, cropped
  { x: [1, 16, 16, 3], k: 7, co: 8, stride: 2, pad: 'same' }, // the ImageNet stem
  { x: [2, 8, 8, 4], k: 1, co: 6, stride: 2, pad: 'valid' }, // a downsampling shortcut
  { x: [3, 9, 7, 5], k: 1, co: 6, stride: 2, pad: 'same' }, //  odd sizes: the shortcut's matMul and scatter
  { x: [2, 8, 8, 3], k: 1, co: 2, stride: 3, pad: 'valid' }, // stride 3
  { x: [2, 10, 10, 6], k: 3, co: 5, stride: 2, pad: 'valid' }, // a row/col the conv never reads: cropped
  { x: [2, 12, 10, 5], k: 3, co: 6, stride: 2, pad: 'same' }, // sub-pixel parities on a non-square input
  { x: [2, 9, 9, 3], k: 2, co: 4, stride: 3, pad: 'same' }, //  a parity no tap reaches (its gradient is 0)
  { x: [2, 7, 9, 4], k: 3, co: 5, stride: 2, pad: 'same' }, //  parity planes four channels at a time, padded edges
  { x: [3, 10, 10, 1], k: 3, co: 4, stride: 1, pad: 'same' }, // a grey stem: one channel
  { x: [2, 9, 8, 5], k: 3, co: 4, stride: [2, 1], pad: 'same' }, // unequal strides: two parity planes
];

/** Runs f with the wasm filter gradient registered as `config`, then puts the one that was there back. */
async function withFilterGrad<T>(config: KernelConfig, f: () => T): Promise<T> {
  const stock = tf.getKernel(tf.Conv2DBackpropFilter, 'wasm');
  if (!stock) throw new Error('no wasm Conv2DBackpropFilter');
  tf.unregisterKernel(tf.Conv2DBackpropFilter, 'wasm');
  tf.registerKernel(config);
  try {
    return f();
  } finally {
    tf.unregisterKernel(tf.Conv2DBackpropFilter, 'wasm');
    tf.registerKernel(stock);
  }
}

function values(shape: number[], seed: number): Float32Array {
  const r = new Rng(seed),
    v = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) v[i] = r.normal();
  return v;
}

/** Gradients of sum(conv(x, w) * m) with respect to x and w, on the backend now set. */
function convGrads(c: ConvCase): { dx: Float32Array; dw: Float32Array } {
  const shapeW: [number, number, number, number] = [c.k, c.k, c.x[3], c.co];
  return tf.tidy(() => {
    const x = tf.tensor4d(values(c.x, 1), c.x),
      w = tf.tensor4d(values(shapeW, 2), shapeW);
    const outShape = tf.conv2d(x, w, c.stride, c.pad).shape;
    const m = tf.tensor(values(outShape, 3), outShape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), m)),
    )([x, w]);
    return { dx: g[0].dataSync() as Float32Array, dw: g[1].dataSync() as Float32Array };
  });
}

function expectClose(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  expect(worst, `${what}: worst relative difference`).toBeLessThan(1e-4);
}

describe('wasm training kernels agree with the cpu backend', () => {
  it.each(CONVS)('conv $k x $k / $stride $pad on $x -> $co: input and filter gradients', async (c) => {
    await useBackend('cpu');
    const want = convGrads(c);
    await useBackend('wasm');
    const n0 = tf.memory().numTensors;
    const got = convGrads(c);
    expect(tf.memory().numTensors).toBe(n0);
    expectClose(got.dx, want.dx, 'dx');
    expectClose(got.dw, want.dw, 'dw');
    // the filter gradient's formulation follows the shape: each one on every shape
    for (const only of ['gemm', 'conv'] as FilterGradFormulation[]) {
      const dw = await withFilterGrad(conv2DBackpropFilterConfig({ only }), () => convGrads(c).dw);
      expectClose(dw, want.dw, `dw (${only})`);
      expect(tf.memory().numTensors).toBe(n0);
    }
  });

  it('matMul with transpose flags (forward and gradients)', async () => {
    const run = () =>
      tf.tidy(() => {
        const a = tf.tensor3d(values([2, 5, 3], 4), [2, 5, 3]),
          b = tf.tensor3d(values([2, 4, 5], 5), [2, 4, 5]);
        const f = (p: tf.Tensor, q: tf.Tensor) => tf.matMul(p as tf.Tensor3D, q as tf.Tensor3D, true, true);
        const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(f(p, q))))([a, b]);
        return [f(a, b), ...g].map((t) => t.dataSync() as Float32Array);
      });
    await useBackend('cpu');
    const want = run();
    await useBackend('wasm');
    run().forEach((v, i) => expectClose(v, want[i], ['y', 'da', 'db'][i]));
  });

  it('BatchNorm gradient (broadcast, not tiled) for x, mean, variance, scale and offset', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(values([2, 3, 3, 4], 6), [2, 3, 3, 4]);
        const mean = tf.tensor1d(values([4], 7)),
          variance = tf.abs(tf.tensor1d(values([4], 8))),
          scale = tf.tensor1d(values([4], 9)),
          offset = tf.tensor1d(values([4], 10));
        const g = tf.grads((a: tf.Tensor, mu: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
          tf.sum(
            tf.square(tf.batchNorm(a, mu as tf.Tensor1D, v as tf.Tensor1D, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3)),
          ),
        )([x, mean, variance, scale, offset]);
        return g.map((t) => t.dataSync() as Float32Array);
      });
    await useBackend('cpu');
    const want = run();
    await useBackend('wasm');
    run().forEach((v, i) => expectClose(v, want[i], ['dx', 'dmean', 'dvariance', 'dscale', 'doffset'][i]));
  });

  it.each([
    { x: [20, 6, 6, 5], k: 3, co: 4, stride: 1, pad: 'same' },
    { x: [19, 9, 9, 6], k: 3, co: 5, stride: 2, pad: 'valid' },
    { x: [13, 8, 8, 3], k: 1, co: 4, stride: 2, pad: 'valid' },
  ] as ConvCase[])('filter gradient summed over chunks of images on $x / $stride', async (c) => {
    const shapeW: [number, number, number, number] = [c.k, c.k, c.x[3], c.co];
    const grad = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(values(c.x, 11), c.x);
        const dyShape = tf.conv2d(x, tf.zeros(shapeW) as tf.Tensor4D, c.stride, c.pad).shape;
        const dy = tf.tensor4d(values(dyShape, 12), dyShape);
        return tf
          .grads((w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, c.stride, c.pad), dy)))([
            tf.zeros(shapeW),
          ])[0]
          .dataSync() as Float32Array;
      });
    await useBackend('cpu');
    const want = grad();
    await useBackend('wasm');
    // a budget of a few images' dy: the batch runs as 2-7 chunks, the last one smaller
    for (const only of ['gemm', 'conv'] as FilterGradFormulation[]) {
      const n0 = tf.memory().numTensors;
      const dw = await withFilterGrad(conv2DBackpropFilterConfig({ only, chunkBytes: 4 * 4 * c.co * 36 }), grad);
      expectClose(dw, want, `dw (${only})`);
      expect(tf.memory().numTensors).toBe(n0);
    }
  });
});

describe('Identity on wasm', () => {
  it('shares the heap memory: a clone outlives its source, and memory returns to where it was', async () => {
    await useBackend('wasm');
    const m0 = tf.memory();
    const a = tf.tensor1d([1, 2, 3]);
    const v = tf.variable(a);
    const b = a.clone();
    expect(tf.memory().numDataBuffers - m0.numDataBuffers).toBe(1); // one buffer for the three
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    const c = tf.tensor1d([4, 5, 6]);
    v.assign(c);
    c.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([4, 5, 6]);
    b.dispose();
    v.dispose();
    expect(tf.memory().numTensors).toBe(m0.numTensors);
    expect(tf.memory().numBytes).toBe(m0.numBytes);
  });
});

describe('filterGradChunk', () => {
  it('splits a batch into equal chunks of about the byte budget, at least minImages each', () => {
    const MB = 1 << 20;
    expect(filterGradChunk(128, 32 * 34 * 64, 2 * MB)).toBe(7); // 272 KB of dy per image: 7 in 2 MB
    expect(filterGradChunk(128, 16 * 18 * 128, 2 * MB)).toBe(13); // 10 chunks of at most 13 rather than 9 x 14 + 2
    expect(filterGradChunk(128, 112 * 112 * 64, 2 * MB)).toBe(1); // 3 MB of dy per image: one at a time
    expect(filterGradChunk(128, 112 * 112 * 64, 4 * MB, 8)).toBe(8); // but at least minImages
    expect(filterGradChunk(128, 14 * 14 * 32, 4 * MB, 8)).toBe(128); // 28 px nets: one chunk
    expect(filterGradChunk(5, 4 * 4 * 8, 2 * MB)).toBe(5);
  });
});

describe('MaxPoolGrad on wasm', () => {
  it.each([
    { x: [2, 9, 9, 5], k: 3, s: 2, pad: 1 }, //     the torchvision stem's pool (explicit padding 1)
    { x: [2, 8, 8, 3], k: 3, s: 2, pad: 'same' }, // the engine's own nets
    { x: [1, 7, 6, 4], k: 2, s: 2, pad: 'valid' }, // leftover row and column
    { x: [2, 6, 6, 3], k: 3, s: 1, pad: 'same' }, //  overlapping windows: a pixel can win several
  ] as { x: [number, number, number, number]; k: number; s: number; pad: 'same' | 'valid' | number }[])(
    'maxPool $k / $s $pad on $x: gradient as on the cpu backend, ties included',
    async (c) => {
      const grad = () =>
        tf.tidy(() => {
          // ReLU'd values: many zeros, so windows tie and the first maximum must win, as on cpu
          const x = tf.relu(tf.tensor4d(values(c.x, 21), c.x));
          const yShape = tf.maxPool(x, c.k, c.s, c.pad).shape;
          const m = tf.tensor4d(values(yShape, 22), yShape);
          return tf
            .grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad), m)))(x)
            .dataSync() as Float32Array;
        });
      await useBackend('cpu');
      const want = grad();
      await useBackend('wasm');
      const n0 = tf.memory().numTensors;
      expectClose(grad(), want, 'dx');
      expect(tf.memory().numTensors).toBe(n0);
    },
  );
});
