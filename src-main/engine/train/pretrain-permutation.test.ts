// Permutation pre-training: the Sinkhorn layer (against a float64 reference and a hand-computed 2x2 limit),
// tile geometry, learning on position-cued images (vs. chance, with a cue-free control), and no tensor leaks.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { logSinkhorn, sinkhorn, sinkhornMatrix } from './sinkhorn';
import {
  createPermutationHead,
  defaultGrid,
  pretrainPermutation,
  shuffledTiles,
  tileBatch,
} from './pretrain-permutation';
import { createEncoder, disposeEncoder, featureDim } from '../nets/model';
import { Rng } from '../../../src-shared/rng';
import type { TrainData } from './trainer';
import { BACKENDS, NUMERIC_BACKENDS, unavailable, useBackend, type TestBackend } from '../backends/test-backends';

function randomLogits(rng: Rng, B: number, m: number, scale: number): number[][][] {
  return Array.from({ length: B }, () =>
    Array.from({ length: m }, () => Array.from({ length: m }, () => scale * rng.normal())),
  );
}
const sums = (a: number[][]) => ({
  rows: a.map((r) => r.reduce((s, v) => s + v, 0)),
  cols: a[0].map((_, j) => a.reduce((s, r) => s + r[j], 0)),
});

/** 16x16 grey images whose quadrants have clearly different brightness (+ noise): the source position of a tile is visible. */
function cued(n: number, s: number, seed: number, cue = true): TrainData {
  const rng = new Rng(seed),
    pixels = new Uint8Array(n * s * s);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const q = (y < s / 2 ? 0 : 2) + (x < s / 2 ? 0 : 1);
        pixels[(i * s + y) * s + x] = cue ? q * 60 + rng.int(40) : rng.int(220);
      }
  return {
    pixels,
    n,
    h: s,
    w: s,
    c: 1,
    labels: new Int32Array(n),
    fixed: new Uint8Array(n),
    trainIdx: Int32Array.from({ length: n }, (_, i) => i),
    numClasses: 2,
  };
}

describe('tile geometry (pure)', () => {
  it('28 px / grid 2: four 14 px tiles covering the image', () => {
    const g = tileBatch(28, 28, 2);
    expect([g.th, g.tw, g.y0, g.x0]).toEqual([14, 14, 0, 0]);
    expect(g.tiles).toEqual([
      { y: 0, x: 0 },
      { y: 0, x: 14 },
      { y: 14, x: 0 },
      { y: 14, x: 14 },
    ]);
  });

  it.each([
    [28, 2, 14, 0],
    [32, 3, 10, 1],
    [33, 2, 16, 0],
    [35, 3, 11, 1],
  ])(
    '%i px / grid %i: floor tiles of %i px from offset %i, no overlap, centred block covered once',
    (size, grid, t, off) => {
      const g = tileBatch(size, size, grid);
      expect([g.th, g.tw, g.y0, g.x0]).toEqual([t, t, off, off]);
      const cover = new Int32Array(size * size);
      for (const { y, x } of g.tiles)
        for (let a = 0; a < g.th; a++) for (let b = 0; b < g.tw; b++) cover[(y + a) * size + x + b]++;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const inside = y >= off && y < off + grid * t && x >= off && x < off + grid * t;
          expect(cover[y * size + x]).toBe(inside ? 1 : 0);
        }
      // centred: the margins differ by at most one pixel
      const rest = size - grid * t;
      expect(Math.abs(off - (rest - off))).toBeLessThanOrEqual(1);
    },
  );

  it('default grid 2 below 48 px, 3 from 48 px; refuses tiles under 2 px', () => {
    expect([defaultGrid(28), defaultGrid(32), defaultGrid(47), defaultGrid(48), defaultGrid(64)]).toEqual([
      2, 2, 2, 3, 3,
    ]);
    expect(() => tileBatch(5, 5, 3)).toThrow(/cannot be cut/);
  });

  it('shuffledTiles puts source tile perm[slot] in each slot, normalised, with one-hot targets', () => {
    // 4x4 image, pixel value = its index; grid 2 -> 2x2 tiles
    const data: TrainData = {
      pixels: Uint8Array.from({ length: 16 }, (_, i) => i),
      n: 1,
      h: 4,
      w: 4,
      c: 1,
      labels: new Int32Array(1),
      fixed: new Uint8Array(1),
      trainIdx: new Int32Array(1),
      numClasses: 1,
    };
    const { tiles, target } = shuffledTiles(data, [0], tileBatch(4, 4, 2), [Int32Array.from([3, 0, 2, 1])], {
      mean: [0],
      std: [1 / 255],
    });
    // tiles: 0 -> px 0,1,4,5; 1 -> 2,3,6,7; 2 -> 8,9,12,13; 3 -> 10,11,14,15
    expect(Array.from(tiles)).toEqual([10, 11, 14, 15, 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7]);
    expect(Array.from(target)).toEqual([0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]);
  });
});

describe('sinkhornMatrix (JS reference)', () => {
  it('2x2 limit matches the hand-computed value (cross-ratio preserved: p = 1 / (1 + sqrt 3))', () => {
    const s = sinkhornMatrix(
      [
        [0, Math.log(3)],
        [0, 0],
      ],
      50,
    );
    const p = 1 / (1 + Math.sqrt(3));
    expect(s[0][0]).toBeCloseTo(p, 6);
    expect(s[0][1]).toBeCloseTo(1 - p, 6);
    expect(s[1][0]).toBeCloseTo(1 - p, 6);
    expect(s[1][1]).toBeCloseTo(p, 6);
  });
});

describe.each(BACKENDS)('sinkhorn on %s', (backend) => {
  it.each([
    [1, 20],
    [5, 20],
    [30, 20],
    [100, 10],
  ])(
    'random logits x%i, %i iterations: rows and columns sum to 1 within 1e-3 and match the reference',
    async (scale, iters) => {
      await useBackend(backend);
      const rng = new Rng(7 + scale);
      for (const m of [4, 9]) {
        const a = randomLogits(rng, 3, m, scale);
        const out = tf.tidy(() => sinkhorn(tf.tensor3d(a), iters).arraySync());
        for (let b = 0; b < a.length; b++) {
          const { rows, cols } = sums(out[b]);
          for (const v of [...rows, ...cols]) expect(Math.abs(v - 1)).toBeLessThan(1e-3);
          const ref = sinkhornMatrix(a[b], iters);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < m; j++) expect(Math.abs(out[b][i][j] - ref[i][j])).toBeLessThan(1e-4);
        }
      }
    },
  );

  it('rounding: hand-computed on a sub-stochastic matrix (0 iterations), a no-op on converged input, needed for large logits', async () => {
    await useBackend(backend);
    // rows 0.8/0.2, columns 0.7/0.3: nothing to scale down; deficits er = (0.2, 0.8), ec = (0.3, 0.7), sum 1
    const a = [
      [0.6, 0.2],
      [0.1, 0.1],
    ].map((r) => r.map(Math.log));
    const want = [
      [0.66, 0.34],
      [0.34, 0.66],
    ];
    const out = tf.tidy(() => sinkhorn(tf.tensor3d([a]), 0).arraySync())[0];
    const ref = sinkhornMatrix(a, 0);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) {
        expect(out[i][j]).toBeCloseTo(want[i][j], 5);
        expect(ref[i][j]).toBeCloseTo(want[i][j], 12);
      }
    const small = randomLogits(new Rng(5), 1, 4, 1)[0];
    const conv = sinkhornMatrix(small, 200, 1, false),
      rounded = tf.tidy(() => sinkhorn(tf.tensor3d([small]), 20).arraySync())[0];
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) expect(Math.abs(rounded[i][j] - conv[i][j])).toBeLessThan(1e-4);
    // without rounding, 20 iterations leave the rows of a confident (x30) score matrix visibly off
    const big = randomLogits(new Rng(37), 3, 9, 30);
    const raw = tf.tidy(() => sinkhorn(tf.tensor3d(big), 20, 1, false).arraySync());
    const worst = Math.max(...raw.flatMap((mat) => sums(mat).rows.map((v) => Math.abs(v - 1))));
    expect(worst).toBeGreaterThan(1e-3);
  });

  it('temperature divides the logits (same as the reference at T = 0.5)', async () => {
    await useBackend(backend);
    const a = randomLogits(new Rng(3), 1, 4, 2);
    const out = tf.tidy(() => sinkhorn(tf.tensor3d(a), 20, 0.5).arraySync());
    const ref = sinkhornMatrix(a[0], 20, 0.5);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(out[0][i][j]).toBeCloseTo(ref[i][j], 4);
  });

  it('a permutation matrix scaled by 50 comes back as that permutation (finite, no overflow)', async () => {
    await useBackend(backend);
    const perm = [2, 0, 3, 1];
    const a = [perm.map((p) => perm.map((_, j) => (j === p ? 50 : 0)))];
    const out = tf.tidy(() => sinkhorn(tf.tensor3d(a), 20).arraySync())[0];
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) expect(Math.abs(out[i][j] - (j === perm[i] ? 1 : 0))).toBeLessThan(1e-6);
  });

  it('gradients through 20 log-domain iterations are finite and non-zero, also for large logits', async () => {
    await useBackend(backend);
    for (const scale of [1, 30, 100]) {
      for (const round of [true, false]) {
        const a = randomLogits(new Rng(11), 2, 4, scale);
        const g = tf.tidy(() => {
          const x = tf.tensor3d(a);
          const w = tf.tensor3d(randomLogits(new Rng(12), 2, 4, 1));
          return tf
            .grad((t: tf.Tensor) => tf.sum(tf.mul(logSinkhorn(t as tf.Tensor3D, 20, 1, round), w)))(x)
            .dataSync();
        });
        expect(Array.from(g).every(Number.isFinite)).toBe(true);
        expect(Array.from(g).some((v) => Math.abs(v) > 1e-8)).toBe(true);
      }
    }
  });

  it('numTensors stays flat across calls', async () => {
    await useBackend(backend);
    const x = tf.tensor3d(randomLogits(new Rng(1), 2, 4, 3));
    tf.tidy(() => sinkhorn(x, 5));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) sinkhorn(x, 5).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

// Training runs on wasm only: the pure-JS cpu backend needs seconds per conv step (as in train/trainer.test.ts);
// the ops it uses are covered on cpu by the Sinkhorn tests above.
describe.each(['wasm'] as const)('pretrainPermutation on %s', (backend) => {
  it('head: named variables of the right shapes, disposable', async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const h = createPermutationHead(64, 3, 1);
    expect([...h.params.keys()]).toEqual(['head/fc1/w', 'head/fc1/b', 'head/fc2/w', 'head/fc2/b']);
    expect(h.params.get('head/fc1/w')!.shape).toEqual([9 * 64, 256]);
    expect(h.params.get('head/fc2/w')!.shape).toEqual([256, 81]);
    const out = tf.tidy(() => h.apply(tf.ones([2, 9 * 64])).shape);
    expect(out).toEqual([2, 9, 9]);
    h.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('learns tile positions on position-cued images far above chance (1/4), not on cue-free noise; trains only the backbone', async () => {
    await useBackend(backend);
    const norm = { mean: [0.45], std: [0.3] };
    const run = async (data: TrainData) => {
      const enc = createEncoder('resnet-micro', 1, 2, 5);
      const before = new Map([...enc.params].map(([n, v]) => [n, Float32Array.from(v.dataSync())]));
      const steps: number[] = [];
      const r = await pretrainPermutation(enc, data, norm, {
        epochs: 4,
        grid: 2,
        batchSize: 16,
        lr: 0.05,
        seed: 3,
        onStep: (i) => steps.push(i.step),
      });
      const changed = (n: string) =>
        enc.params
          .get(n)!
          .dataSync()
          .some((v, i) => v !== before.get(n)![i]);
      const moved = {
        backbone: changed('stem/w') && changed('s1b0/c2/w'),
        cls: changed('cls/w'),
        proj: changed('proj1/w'),
      };
      disposeEncoder(enc);
      return { r, moved, steps };
    };
    const good = await run(cued(64, 16, 1));
    expect(good.steps).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    expect(good.r.history.map((h) => h.epoch)).toEqual([0, 1, 2, 3]);
    expect(good.moved).toEqual({ backbone: true, cls: false, proj: false });
    const last = good.r.history[3];
    expect(last.accuracy).toBeGreaterThan(0.65); // chance 0.25; measured 0.85 (epoch means 0.26, 0.63, 0.78, 0.85)
    expect(last.loss).toBeLessThan(good.r.history[0].loss);
    // control: identical training on images with no positional cue stays near chance
    const noise = await run(cued(64, 16, 1, false));
    expect(noise.r.history[3].accuracy).toBeLessThan(0.4); // measured 0.26
    expect(featureDim('resnet-micro')).toBe(64);
  });

  it('numTensors does not grow across two pretrain calls; shouldStop ends early with a partial history', async () => {
    await useBackend(backend);
    const data = cued(32, 16, 2),
      norm = { mean: [0.45], std: [0.3] };
    const enc = createEncoder('resnet-micro', 1, 2, 1);
    const opts = { epochs: 1, grid: 2, batchSize: 8, lr: 0.05, seed: 1 };
    await pretrainPermutation(enc, data, norm, opts);
    const before = tf.memory().numTensors;
    await pretrainPermutation(enc, data, norm, opts);
    expect(tf.memory().numTensors).toBe(before);
    let n = 0;
    const r = await pretrainPermutation(enc, data, norm, {
      ...opts,
      epochs: 3,
      shouldStop: () => n >= 2,
      onStep: () => {
        n++;
      },
    });
    expect(r.history).toHaveLength(1);
    expect(tf.memory().numTensors).toBe(before);
    disposeEncoder(enc);
  });
});

/** 3 steps of 8 cued images (32 tiles of 8x8): short enough for the pure-JS cpu backend; per-step loss and accuracy */
async function fewSteps(backend: TestBackend) {
  await useBackend(backend);
  const enc = createEncoder('resnet-micro', 1, 2, 5);
  const steps: { step: number; loss: number; accuracy: number }[] = [];
  const before = tf.memory().numTensors;
  try {
    const r = await pretrainPermutation(
      enc,
      cued(24, 16, 4),
      { mean: [0.45], std: [0.3] },
      { epochs: 1, grid: 2, batchSize: 8, lr: 0.05, seed: 2, onStep: (i) => steps.push(i) },
    );
    return { steps, history: r.history, leaked: tf.memory().numTensors - before };
  } finally {
    disposeEncoder(enc);
  }
}
let wasmRef: Promise<Awaited<ReturnType<typeof fewSteps>>> | null = null;

// The step reads its loss and tile-accuracy count back once, with `await data()`: webgpu (which cannot read
// synchronously in Node) pre-trains, and every backend follows wasm's steps.
describe.each(NUMERIC_BACKENDS)('pretrainPermutation steps on %s', (_label, backend) => {
  it.skipIf(unavailable(backend))(
    "3 steps give wasm's losses (1e-4) and tile accuracies (one tile at most); no tensor leak",
    async () => {
      wasmRef ??= fewSteps('wasm');
      const ref = await wasmRef;
      const got = await fewSteps(backend);
      expect(tf.getBackend()).toBe(backend);
      expect(got.leaked).toBe(0);
      expect(got.steps.map((s) => s.step)).toEqual([1, 2, 3]);
      expect(got.history).toHaveLength(1);
      got.steps.forEach((s, i) => {
        expect(Number.isFinite(s.loss)).toBe(true);
        expect(Math.abs(s.loss - ref.steps[i].loss)).toBeLessThan(1e-4);
        // argMax may break a near tie the other way under another summation order: one tile of 32
        expect(Math.abs(s.accuracy - ref.steps[i].accuracy)).toBeLessThanOrEqual(1 / 32 + 1e-9);
      });
      expect(got.history[0].loss).toBeCloseTo(ref.history[0].loss, 4);
    },
    60_000,
  );
});
