// Self-supervised warm start (seed 002, after DeepPermNet, Santa Cruz et al.): cut every image into an
// n x n grid of tiles, shuffle the tiles, run each tile through the encoder's SHARED backbone, concatenate the
// n^2 pooled features in shuffled order and let a small head + Sinkhorn layer say where each tile came from.
// Only the backbone (conv trunk + BN) and the throw-away head learn; cls/proj are left to the MoPro run.
import * as tf from '@tensorflow/tfjs';
import { featureDim, forward, type Encoder } from '../nets/model';
import { Rng } from '../../../src-shared/rng';
import { lrAt } from './schedule';
import { MomentumSgd } from './sgd';
import { logSinkhorn } from './sinkhorn';
import type { TrainData } from './trainer';
import { readRows } from '../../dataset/pixel-source';

/** Default grid: 2x2 under 48 px (28 px -> 14 px tiles, still enough for two stride-2 stages), else 3x3. */
export function defaultGrid(imageSize: number): number {
  return imageSize < 48 ? 2 : 3;
}

export interface TileGeometry {
  grid: number;
  th: number;
  tw: number; // tile height / width (floor(size / grid))
  y0: number;
  x0: number; // top-left of the tiled (centred) block
  /** row-major: tile k sits at grid cell (k / grid | 0, k % grid) and starts at pixel (y, x) */
  tiles: { y: number; x: number }[];
}

/**
 * Tile coordinates for an h x w image and a grid (pure geometry). Sizes not divisible by the grid use
 * floor-sized tiles from the centre (32 px / 3 -> 10 px tiles from pixel 1): the 1-2 px border dropped is
 * the least informative part and keeps every tile the same shape, which the shared backbone needs.
 */
export function tileBatch(h: number, w: number, grid: number): TileGeometry {
  const th = Math.floor(h / grid),
    tw = Math.floor(w / grid);
  if (grid < 2 || th < 2 || tw < 2)
    throw new Error(`permutation pre-training: ${h}x${w} px cannot be cut into ${grid}x${grid} tiles of at least 2 px`);
  const y0 = Math.floor((h - th * grid) / 2),
    x0 = Math.floor((w - tw * grid) / 2);
  const tiles: { y: number; x: number }[] = [];
  for (let r = 0; r < grid; r++) for (let c = 0; c < grid; c++) tiles.push({ y: y0 + r * th, x: x0 + c * tw });
  return { grid, th, tw, y0, x0, tiles };
}

export interface PermutationHead {
  grid: number;
  /** keyed 'head/fc1/w' etc.; tf names are unique per head */
  params: Map<string, tf.Variable>;
  /** concatenated tile features [B, n^2 * featDim] -> score matrix [B, n^2, n^2] (row = shuffled slot, column = source position) */
  apply(feats: tf.Tensor2D): tf.Tensor3D;
  dispose(): void;
}

export const HEAD_HIDDEN = 256;
let headSerial = 0;

/** Linear -> ReLU -> Linear to n^2 x n^2 scores, PyTorch nn.Linear init U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function createPermutationHead(featDim: number, grid: number, seed: number): PermutationHead {
  headSerial++;
  const m = grid * grid,
    params = new Map<string, tf.Variable>();
  // its own stream: the tile permutations draw from Rng(seed * 7919 + 104729)
  const rng = new Rng(seed * 2654435761 + 12345),
    next = () => rng.tfSeed();
  const dense = (name: string, i: number, o: number) => {
    const b = 1 / Math.sqrt(i);
    // tidy: a variable keeps its own copy, the initial value would leak otherwise
    tf.tidy(() => {
      params.set(
        `head/${name}/w`,
        tf.variable(tf.randomUniform([i, o], -b, b, 'float32', next()), true, `perm${headSerial}/${name}/w`),
      );
      params.set(
        `head/${name}/b`,
        tf.variable(tf.randomUniform([o], -b, b, 'float32', next()), true, `perm${headSerial}/${name}/b`),
      );
    });
  };
  dense('fc1', m * featDim, HEAD_HIDDEN);
  dense('fc2', HEAD_HIDDEN, m * m);
  const P = (n: string) => params.get(`head/${n}`)!;
  return {
    grid,
    params,
    apply: (feats) =>
      tf.tidy(() => {
        const h = tf.relu(tf.add(tf.matMul(feats, P('fc1/w') as tf.Tensor2D), P('fc1/b')));
        return tf.reshape(tf.add(tf.matMul(h as tf.Tensor2D, P('fc2/w') as tf.Tensor2D), P('fc2/b')), [
          feats.shape[0],
          m,
          m,
        ]) as tf.Tensor3D;
      }),
    dispose: () => {
      for (const v of params.values()) v.dispose();
      params.clear();
    },
  };
}

export interface PretrainOptions {
  epochs: number;
  grid: number;
  batchSize: number;
  lr: number;
  seed: number;
  shouldStop?: () => boolean;
  /** after every step; step counts the steps done in this epoch (1..steps) */
  onStep?: (info: { epoch: number; step: number; steps: number; loss: number; accuracy: number }) => void;
}
export interface PretrainResult {
  history: { epoch: number; loss: number; accuracy: number; seconds: number }[];
}

const SINKHORN_ITERS = 20;
const SINKHORN_TEMPERATURE = 1;

/**
 * Normalised, shuffled tiles of the given rows as one float buffer [B * n^2, th, tw, C] (image-major, slot-minor:
 * the backbone's features reshape straight into the per-image concatenation) plus the one-hot targets
 * [B, n^2, n^2] with target[b, slot, source] = 1. Built in JS: the tiles need no gradient, and Slice/Concat
 * are JS loops on wasm anyway.
 */
export function shuffledTiles(
  data: TrainData,
  rows: ArrayLike<number>,
  geo: TileGeometry,
  perms: Int32Array[],
  norm: { mean: number[]; std: number[] },
): { tiles: Float32Array; target: Float32Array } {
  const { h, w, c } = data,
    pixels = readRows(data.pixels, rows, h * w * c),
    { th, tw } = geo,
    m = geo.grid * geo.grid,
    B = rows.length;
  const tileSize = th * tw * c,
    tiles = new Float32Array(B * m * tileSize),
    target = new Float32Array(B * m * m);
  const scale = norm.std.map((s) => 1 / (255 * s)),
    shift = norm.mean.map((mu, ch) => -mu / norm.std[ch]);
  for (let b = 0; b < B; b++) {
    const img = b * h * w * c,
      perm = perms[b];
    for (let slot = 0; slot < m; slot++) {
      const src = geo.tiles[perm[slot]];
      target[(b * m + slot) * m + perm[slot]] = 1;
      let o = (b * m + slot) * tileSize;
      for (let y = 0; y < th; y++) {
        let p = img + ((src.y + y) * w + src.x) * c;
        for (let x = 0; x < tw; x++) for (let ch = 0; ch < c; ch++) tiles[o++] = pixels[p++] * scale[ch] + shift[ch];
      }
    }
  }
  return { tiles, target };
}

/**
 * Pre-trains enc's backbone (not cls/proj) on tile un-shuffling, with momentum SGD (0.9, wd 5e-4 as the main
 * run), a cosine lr with a short warm-up, BN in train mode (running statistics move; the MoPro run's first
 * steps re-estimate them at full image size). Yields to the event loop between steps; disposes the head.
 */
export async function pretrainPermutation(
  enc: Encoder,
  data: TrainData,
  norm: { mean: number[]; std: number[] },
  opts: PretrainOptions,
): Promise<PretrainResult> {
  const geo = tileBatch(data.h, data.w, opts.grid),
    m = opts.grid * opts.grid,
    C = data.c;
  const F = featureDim(enc.arch);
  const head = createPermutationHead(F, opts.grid, opts.seed);
  const sgd = new MomentumSgd(0.9, 5e-4);
  const rng = new Rng(opts.seed * 7919 + 104729);
  const params = new Map<string, tf.Variable>(
    [...enc.params].filter(([n]) => !n.startsWith('cls/') && !n.startsWith('proj')),
  );
  for (const [n, v] of head.params) params.set(n, v);
  const varList = [...params.values()];
  const rowsAll = data.trainIdx,
    nRows = rowsAll.length;
  const B = Math.max(1, Math.min(opts.batchSize, nRows)),
    steps = Math.max(1, Math.floor(nRows / B)); // drop_last, as Trainer
  const schedule = {
    kind: 'cosine' as const,
    base: opts.lr,
    warmupEpochs: Math.min(1, opts.epochs / 3),
    epochs: opts.epochs,
  };
  const history: PretrainResult['history'] = [];
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const t0 = Date.now();
      const order = rng.permutation(nRows);
      let lossSum = 0,
        accSum = 0,
        done = 0,
        stopped = false;
      for (let step = 0; step < steps; step++) {
        if (opts.shouldStop?.()) {
          stopped = true;
          break;
        }
        const rows = Int32Array.from(order.subarray(step * B, (step + 1) * B), (i) => rowsAll[i]);
        const perms = Array.from(rows, () => rng.permutation(m));
        const { tiles, target } = shuffledTiles(data, rows, geo, perms, norm);
        // webgpu in Node reads only asynchronously, so nothing is read inside the step: the loss and the count of
        // tiles whose Sinkhorn row peaks at the true source position are kept out of the tidy as one tensor and
        // read once per step with `await data()` (the same values dataSync gave, on every backend)
        const kept: tf.Tensor[] = []; // made inside variableGrads' scope, read after it
        let loss: number, correct: number;
        try {
          tf.tidy(() => {
            const x = tf.tensor4d(tiles, [rows.length * m, geo.th, geo.tw, C]);
            const tgt = tf.tensor3d(target, [rows.length, m, m]);
            const src = tf.tensor2d(Int32Array.from(perms.flatMap((p) => [...p])), [rows.length, m], 'int32');
            const { grads } = tf.variableGrads(() => {
              const feat = forward(enc, x, true).feat; // [B*m, F], slot-minor
              const logS = logSinkhorn(
                head.apply(tf.reshape(feat, [rows.length, m * F])),
                SINKHORN_ITERS,
                SINKHORN_TEMPERATURE,
              );
              // Cross-entropy -sum P_true * log S per tile (rows of S are distributions over source positions),
              // not DeepPermNet's MSE: with log S at hand it is exact and stable, and unlike MSE its gradient does not
              // vanish when S is confidently wrong (MSE on probabilities saturates like a sigmoid+L2 classifier).
              const l = tf.div(tf.neg(tf.sum(tf.mul(tgt, logS))), rows.length * m) as tf.Scalar;
              // argMax takes the first of equal scores, as a strict > scan does; the count is exact in float32
              const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logS, 2), src), 'float32'));
              kept.push(tf.keep(tf.stack([l, hits])));
              return l;
            }, varList);
            const g = new Map<string, tf.Tensor>();
            for (const [n, v] of params) if (grads[v.name]) g.set(n, grads[v.name]);
            sgd.step(params, g, lrAt(schedule, epoch + step / steps));
          });
          [loss, correct] = await kept[0].data();
        } finally {
          for (const t of kept) t.dispose();
        }
        if (!Number.isFinite(loss))
          throw new Error(
            `permutation pre-training diverged (loss ${loss}) at epoch ${epoch + 1}; try a smaller learning rate`,
          );
        const accuracy = correct / (rows.length * m);
        lossSum += loss;
        accSum += accuracy;
        done++;
        opts.onStep?.({ epoch, step: step + 1, steps, loss, accuracy });
        await new Promise((r) => setImmediate(r));
      }
      if (done)
        history.push({ epoch, loss: lossSum / done, accuracy: accSum / done, seconds: (Date.now() - t0) / 1000 });
      if (stopped) break;
    }
  } finally {
    head.dispose();
    sgd.dispose();
  }
  return { history };
}
