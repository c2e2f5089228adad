// Losses, kernels, batch norm and augmentation on every backend that runs here (wasm, cpu, and webgpu
// where a WebGPU adapter exists: in CI lavapipe; skipped with the reason elsewhere).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ceLoss, instanceLoss, protoLoss } from './mopro/losses';
import { batchNormTrain } from './nets/batchnorm';
import { strongAugment, weakAugment, randomCropBox, DEFAULT_CROP } from './train/augment';
import { MomentumSgd, sgdStepScalar } from './train/sgd';
import { Rng } from '../../src-shared/rng';
import { NUMERIC_BACKENDS, unavailable, useBackend } from './backends/test-backends';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
  let m = 0,
    s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  expect(m / Math.max(1e-6, s)).toBeLessThan(tol);
};

// webgpu (numerical parity on a WebGPU adapter) reads asynchronously only: every read here awaits data().
describe.each(NUMERIC_BACKENDS)('losses on %s', (_label, backend) => {
  it.skipIf(unavailable(backend))('L_ce: masked mean of -log softmax, empty mask -> 0', async () => {
    await useBackend(backend);
    const logits = tf.tensor2d([
      [Math.log(3), 0],
      [0, 0],
    ]);
    // row 0 target 0: -log(3/4); row 1 target 1: -log(1/2)
    const l = (await ceLoss(logits, tf.tensor1d([0, 1], 'int32'), tf.tensor1d([1, 1])).data())[0];
    expect(l).toBeCloseTo((-Math.log(0.75) - Math.log(0.5)) / 2, 5);
    const l1 = (await ceLoss(logits, tf.tensor1d([0, 1], 'int32'), tf.tensor1d([1, 0])).data())[0];
    expect(l1).toBeCloseTo(-Math.log(0.75), 5);
    expect((await ceLoss(logits, tf.tensor1d([0, 1], 'int32'), tf.tensor1d([0, 0])).data())[0]).toBe(0);
  });
  it.skipIf(unavailable(backend))('L_pro: CE over (v . c_k) / tau', async () => {
    await useBackend(backend);
    const v = tf.tensor2d([[1, 0]]),
      c = tf.tensor2d([
        [1, 0],
        [0, 1],
      ]);
    // logits [10, 0] -> -log(e^10/(e^10+1)) for target 0; target 1 -> -log(1/(e^10+1))
    expect((await protoLoss(v, c, tf.tensor1d([0], 'int32'), tf.tensor1d([1]), 0.1).data())[0]).toBeCloseTo(
      Math.log(1 + Math.exp(-10)),
      5,
    );
    expect((await protoLoss(v, c, tf.tensor1d([1], 'int32'), tf.tensor1d([1]), 0.1).data())[0]).toBeCloseTo(
      Math.log(Math.exp(10) + 1),
      4,
    );
  });
  it.skipIf(unavailable(backend))('L_ins: InfoNCE with positive first and the queue as negatives', async () => {
    await useBackend(backend);
    const v = tf.tensor2d([[1, 0]]),
      k = tf.tensor2d([[0.6, 0.8]]);
    const queue = tf.tensor2d([
      [0, 1],
      [1, 0],
    ]); // d x Q: columns (0,1) and (1,0)
    // logits / 0.1: pos 6, neg [0, 10] -> -log(e^6 / (e^6 + 1 + e^10))
    const want = -(6 - Math.log(Math.exp(6) + 1 + Math.exp(10)));
    expect((await instanceLoss(v, k, queue, 0.1).data())[0]).toBeCloseTo(want, 4);
  });
  it.skipIf(unavailable(backend))('momentum SGD on tensors equals the scalar reference', async () => {
    await useBackend(backend);
    const w = tf.variable(tf.tensor1d([1, -2]));
    const opt = new MomentumSgd(0.9, 0.01);
    const params = new Map([['w', w]]);
    opt.step(params, new Map([['w', tf.tensor1d([0.5, 0.25])]]), 0.1);
    opt.step(params, new Map([['w', tf.tensor1d([0.5, 0.25])]]), 0.1);
    let a = { w: 1, v: 0 },
      b = { w: -2, v: 0 };
    for (let i = 0; i < 2; i++) {
      a = sgdStepScalar(a.w, 0.5, a.v, 0.1, 0.9, 0.01);
      b = sgdStepScalar(b.w, 0.25, b.v, 0.1, 0.9, 0.01);
    }
    close(await w.data(), [a.w, b.w], 1e-6);
    opt.dispose();
    w.dispose();
  });
  it.skipIf(unavailable(backend))('batch norm: value and gradients equal tf.moments + tf.batchNorm', async () => {
    await useBackend(backend);
    const x = tf.add(tf.mul(tf.randomNormal([4, 5, 5, 3], 0, 1, 'float32', 1), 2), 0.7) as tf.Tensor4D;
    const g = tf.tensor1d([1.5, 0.5, -1]),
      b = tf.tensor1d([0.1, 0.2, 0.3]);
    const w = tf.randomNormal([4, 5, 5, 3], 0, 1, 'float32', 9);
    const ref = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, [0, 1, 2]);
      return tf.sum(
        tf.mul(tf.batchNorm(xx as tf.Tensor4D, mean, variance, bb as tf.Tensor1D, gg as tf.Tensor1D, 1e-5), w),
      );
    };
    const mine = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(batchNormTrain(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5), w));
    const r = tf.grads(ref)([x, g, b]),
      m = tf.grads(mine)([x, g, b]);
    expect((await mine(x, g, b).data())[0]).toBeCloseTo((await ref(x, g, b).data())[0], 3);
    for (let i = 0; i < r.length; i++) close(await m[i].data(), await r[i].data(), 1e-4);
  });
  it.skipIf(unavailable(backend))('augmentations keep shape and the [0,1] range, and depend on the seed', async () => {
    await useBackend(backend);
    for (const C of [1, 3]) {
      const x = tf.randomUniform([6, 12, 12, C], 0, 1, 'float32', 3) as tf.Tensor4D;
      const wk = weakAugment(x, new Rng(1)),
        st = strongAugment(x, new Rng(1)),
        wk2 = weakAugment(x, new Rng(2));
      for (const t of [wk, st]) {
        expect(t.shape).toEqual([6, 12, 12, C]);
        expect((await tf.min(t).data())[0]).toBeGreaterThanOrEqual(-1e-6);
        expect((await tf.max(t).data())[0]).toBeLessThanOrEqual(1 + 1e-6);
      }
      expect((await tf.sum(tf.abs(tf.sub(wk, wk2))).data())[0]).toBeGreaterThan(0);
      close(await weakAugment(x, new Rng(1)).data(), await wk.data(), 1e-6); // same seed, same views
    }
  });
  it.skipIf(unavailable(backend))('flip box samples right-to-left (checked on a ramp)', async () => {
    await useBackend(backend);
    const ramp = tf.tensor4d(
      Array.from({ length: 16 }, (_, i) => i % 4),
      [1, 4, 4, 1],
    );
    const out = await tf.image
      .cropAndResize(ramp, tf.tensor2d([[0, 1, 1, 0]]), tf.tensor1d([0], 'int32'), [4, 4])
      .data();
    expect(Array.from(out.slice(0, 4))).toEqual([3, 2, 1, 0]);
    const rng = new Rng(5);
    for (let i = 0; i < 50; i++) {
      const [y1, x1, y2, x2] = randomCropBox(rng, 28, 28, DEFAULT_CROP, i % 2 === 0);
      expect(y2).toBeGreaterThan(y1);
      const area = (y2 - y1) * Math.abs(x2 - x1);
      expect(area).toBeGreaterThan(0.1);
      expect(Math.max(y1, y2, x1, x2)).toBeLessThanOrEqual(1);
    }
  });
});

describe('wasm training kernels equal the cpu backend', () => {
  const cases: [number, number, number, 'same' | 'valid'][] = [
    [1, 8, 3, 'same'],
    [2, 8, 3, 'same'],
    [2, 7, 3, 'same'],
    [2, 8, 1, 'same'],
    [2, 9, 3, 'valid'],
    [2, 12, 5, 'same'],
    [3, 12, 3, 'valid'],
    [2, 10, 7, 'same'],
  ];
  const grads = (stride: number, H: number, k: number, pad: 'same' | 'valid') =>
    tf.tidy(() => {
      const x = tf.randomNormal([3, H, H, 5], 0, 1, 'float32', 1);
      const w = tf.randomNormal([k, k, 5, 7], 0, 1, 'float32', 2);
      const yShape = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride as 1, pad).shape;
      const r = tf.randomNormal(yShape, 0, 1, 'float32', 3);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride as 1, pad), r)),
      )([x, w]);
      const mm = tf.matMul(
        tf.randomNormal([2, 5, 3], 0, 1, 'float32', 4),
        tf.randomNormal([2, 4, 3], 0, 1, 'float32', 5),
        false,
        true,
      );
      return [g[0].dataSync(), g[1].dataSync(), mm.dataSync()].map((a) => Array.from(a));
    });
  it('Conv2DBackpropFilter / Conv2DBackpropInput (strides 1-3, same/valid) and transposed matMul', async () => {
    await useBackend('cpu');
    const ref = cases.map((c) => grads(...c));
    await useBackend('wasm');
    cases.forEach((c, i) => {
      const got = grads(...c);
      got.forEach((g, j) => close(g, ref[i][j], 1e-5));
    });
  });
});

describe('neighbour-label ood_score', () => {
  it('knn skips self and labelImpurity weighs neighbours; mixed-label clusters rank first', async () => {
    await useBackend('wasm');
    const { knn, labelImpurity, oodScores } = await import('./eval/ood-score');
    // 2-d unit vectors: cluster A near (1,0) all label 0; cluster B near (0,1) labels 0,1,2,3
    const ang = [0, 0.05, 0.1, 0.15, Math.PI / 2, Math.PI / 2 + 0.05, Math.PI / 2 + 0.1, Math.PI / 2 + 0.15];
    const emb = new Float32Array(ang.flatMap((a) => [Math.cos(a), Math.sin(a)]));
    const labels = Int32Array.from([0, 0, 0, 0, 0, 1, 2, 3]);
    const nb = knn(emb, 8, emb, 8, 2, 3, 0);
    expect(Array.from(nb.idx.slice(0, 3))).toEqual([1, 2, 3]); // self (0) skipped, nearest first
    expect(nb.sim[0]).toBeCloseTo(Math.cos(0.05), 5);
    const plain = labelImpurity(nb, 3, labels, 4, Infinity);
    expect(plain[0]).toBe(0); //                      all neighbours label 0
    expect(plain[4]).toBeCloseTo(2 / 3, 6); //        neighbours 5,6,7: labels 1,2,3
    const s = oodScores('knn-label', {
      emb,
      protos: new Float32Array([1, 0, 0, 1, 0, 0, 0, 0]),
      q: new Float32Array(32),
      n: 8,
      K: 4,
      d: 2,
      bank: { emb, labels, n: 8 },
      selfOffset: 0,
    });
    for (const i of [4, 5, 6, 7]) for (const j of [0, 1, 2, 3]) expect(s[i]).toBeGreaterThan(s[j]);
  });
});
