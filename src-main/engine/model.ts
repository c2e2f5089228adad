// The encoder of mopro.md §1 as plain tf ops on named variables: a ResNet backbone, a classifier
// head (logits z) and a projection head (Linear-ReLU-Linear -> 128-d, L2-normalised: v).
// Plain variables instead of tf.layers so the momentum (key) encoder, EMA updates, our SGD and the
// checkpoint can address every weight and BN statistic by name.
import * as tf from '@tensorflow/tfjs';
import { batchNormTrain } from './batchnorm';

export interface ArchSpec {
  /** stem conv: channels, kernel, stride; optional 3x3/2 max-pool (ImageNet-style stems) */
  stem: { ch: number; k: number; stride: number; pool: boolean };
  /** residual stages of basic blocks: [channels, first-block stride, blocks] */
  stages: [number, number, number][];
  note: string;
}

// Measured on this 2-core box (wasm SIMD, one thread; see engine README in run.json notes):
// 'resnet-s' is the PyTorch reference net of toolchain.md; 'resnet-tiny' downsamples right after
// the stem, which cuts the 28x28 work ~3x for a small accuracy cost; 'resnet18' is for 224 px on a GPU.
export const ARCHS: Record<string, ArchSpec> = {
  'resnet-tiny': { stem: { ch: 32, k: 3, stride: 1, pool: false }, stages: [[64, 2, 1], [128, 2, 1]], note: 'stem 32, blocks 64/s2, 128/s2; for 28-32 px on CPU' },
  'resnet-narrow': { stem: { ch: 24, k: 3, stride: 1, pool: false }, stages: [[48, 2, 1], [96, 2, 1]], note: 'stem 24, blocks 48/s2, 96/s2' },
  'resnet-micro': { stem: { ch: 16, k: 3, stride: 1, pool: false }, stages: [[32, 2, 1], [64, 2, 1]], note: 'stem 16, blocks 32/s2, 64/s2' },
  'resnet-s': { stem: { ch: 32, k: 3, stride: 1, pool: false }, stages: [[32, 1, 1], [64, 2, 1], [128, 2, 1]], note: 'stem 32, blocks 32, 64/s2, 128/s2 (the PyTorch reference net)' },
  'resnet-m': { stem: { ch: 32, k: 3, stride: 1, pool: false }, stages: [[64, 2, 2], [128, 2, 2]], note: 'stem 32, 2x64/s2, 2x128/s2' },
  'resnet18': { stem: { ch: 64, k: 7, stride: 2, pool: true }, stages: [[64, 1, 2], [128, 2, 2], [256, 2, 2], [512, 2, 2]], note: 'ResNet-18 for 224 px (GPU)' },
};
export const EMBED_DIM = 128;

export interface Encoder {
  arch: string;
  inChannels: number;
  numClasses: number;
  /** trainable weights, stable order */
  params: Map<string, tf.Variable>;
  /** BN running statistics (buffers: never averaged into the key encoder, never decayed) */
  buffers: Map<string, tf.Variable>;
}

export interface ForwardOut { feat: tf.Tensor2D; logits: tf.Tensor2D; emb: tf.Tensor2D }

/** Small deterministic seed stream for initialisers. */
function seeder(seed: number) { let s = seed >>> 0; return () => (s = (s * 1664525 + 1013904223) >>> 0) % 2147483647; }

let encoderSerial = 0;
/** tf variable names are global per thread: prefix each encoder's names uniquely. */
function uniq(n: string): string { return `e${encoderSerial}/${n}`; }

export function createEncoder(arch: string, inChannels: number, numClasses: number, seed = 0, trainable = true): Encoder {
  encoderSerial++;
  const spec = ARCHS[arch];
  if (!spec) throw new Error(`unknown --arch "${arch}": use one of ${Object.keys(ARCHS).join(', ')}`);
  const next = seeder(seed + 17);
  const params = new Map<string, tf.Variable>();
  const buffers = new Map<string, tf.Variable>();
  const conv = (name: string, k: number, ci: number, co: number) => {
    // He-normal, fan-out (torchvision ResNet init)
    params.set(`${name}/w`, tf.variable(tf.randomNormal([k, k, ci, co], 0, Math.sqrt(2 / (k * k * co)), 'float32', next()), trainable, uniq(`${name}/w`)));
  };
  const bn = (name: string, c: number) => {
    params.set(`${name}/gamma`, tf.variable(tf.ones([c]), trainable, uniq(`${name}/gamma`)));
    params.set(`${name}/beta`, tf.variable(tf.zeros([c]), trainable, uniq(`${name}/beta`)));
    buffers.set(`${name}/mean`, tf.variable(tf.zeros([c]), false, uniq(`${name}/mean`)));
    buffers.set(`${name}/var`, tf.variable(tf.ones([c]), false, uniq(`${name}/var`)));
  };
  const dense = (name: string, i: number, o: number) => {
    // PyTorch nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
    const b = 1 / Math.sqrt(i);
    params.set(`${name}/w`, tf.variable(tf.randomUniform([i, o], -b, b, 'float32', next()), trainable, uniq(`${name}/w`)));
    params.set(`${name}/b`, tf.variable(tf.randomUniform([o], -b, b, 'float32', next()), trainable, uniq(`${name}/b`)));
  };
  conv('stem', spec.stem.k, inChannels, spec.stem.ch); bn('stem/bn', spec.stem.ch);
  let ci = spec.stem.ch;
  spec.stages.forEach(([co, stride, blocks], si) => {
    for (let bi = 0; bi < blocks; bi++) {
      const s = bi === 0 ? stride : 1, p = `s${si}b${bi}`;
      conv(`${p}/c1`, 3, ci, co); bn(`${p}/bn1`, co);
      conv(`${p}/c2`, 3, co, co); bn(`${p}/bn2`, co);
      if (s !== 1 || ci !== co) { conv(`${p}/sc`, 1, ci, co); bn(`${p}/scbn`, co); }
      ci = co;
    }
  });
  dense('cls', ci, numClasses);
  dense('proj1', ci, ci);
  dense('proj2', ci, EMBED_DIM);
  return { arch, inChannels, numClasses, params, buffers };
}

export function featureDim(arch: string): number {
  const s = ARCHS[arch];
  return s.stages.length ? s.stages[s.stages.length - 1][0] : s.stem.ch;
}

const BN_MOMENTUM = 0.1; // PyTorch convention: running = (1-0.1) running + 0.1 batch
const BN_EPS = 1e-5;

/**
 * Forward pass. training=true uses batch statistics and (when updateStats) moves the running
 * statistics; training=false uses the running statistics (final pass, predict).
 */
export function forward(enc: Encoder, x: tf.Tensor4D, training: boolean, updateStats = training): ForwardOut {
  const spec = ARCHS[enc.arch];
  const P = (n: string) => enc.params.get(n)!;
  const conv = (h: tf.Tensor4D, name: string, stride: number) => tf.conv2d(h, P(`${name}/w`) as tf.Tensor4D, stride, 'same');
  const bn = (h: tf.Tensor4D, name: string): tf.Tensor4D => {
    const gamma = P(`${name}/gamma`) as tf.Tensor1D, beta = P(`${name}/beta`) as tf.Tensor1D;
    const rm = enc.buffers.get(`${name}/mean`)!, rv = enc.buffers.get(`${name}/var`)!;
    if (!training) return tf.batchNorm(h, rm as tf.Tensor1D, rv as tf.Tensor1D, beta, gamma, BN_EPS);
    const n = h.size / h.shape[3];
    return batchNormTrain(h, gamma, beta, BN_EPS, updateStats ? ({ mean, variance }) => {
      // the loss never depends on the running statistics, so no gradient flows through these
      tf.tidy(() => {
        rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
        rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * n / Math.max(1, n - 1))));
      });
    } : undefined);
  };
  let h = tf.relu(bn(conv(x, 'stem', spec.stem.stride), 'stem/bn'));
  if (spec.stem.pool) h = tf.maxPool(h, 3, 2, 'same');
  let ci = spec.stem.ch;
  spec.stages.forEach(([co, stride, blocks], si) => {
    for (let bi = 0; bi < blocks; bi++) {
      const s = bi === 0 ? stride : 1, p = `s${si}b${bi}`;
      let o = tf.relu(bn(conv(h, `${p}/c1`, s), `${p}/bn1`));
      o = bn(conv(o, `${p}/c2`, 1), `${p}/bn2`);
      const sc = (s !== 1 || ci !== co) ? bn(conv(h, `${p}/sc`, s), `${p}/scbn`) : h;
      h = tf.relu(tf.add(o, sc));
      ci = co;
    }
  });
  const feat = tf.mean(h, [1, 2]) as tf.Tensor2D;
  const lin = (a: tf.Tensor2D, n: string) => tf.add(tf.matMul(a, P(`${n}/w`) as tf.Tensor2D), P(`${n}/b`)) as tf.Tensor2D;
  const logits = lin(feat, 'cls');
  const e = lin(tf.relu(lin(feat, 'proj1')), 'proj2');
  // L2 normalise; the 1e-12 only guards an all-zero row (the official code divides by the bare norm)
  const emb = tf.div(e, tf.add(tf.norm(e, 2, 1, true), 1e-12)) as tf.Tensor2D;
  return { feat, logits, emb };
}

/** A copy with identical weights and statistics (the momentum encoder starts as the query's copy). */
export function cloneEncoder(enc: Encoder, trainable = false): Encoder {
  encoderSerial++;
  const params = new Map<string, tf.Variable>(), buffers = new Map<string, tf.Variable>();
  for (const [n, v] of enc.params) params.set(n, tf.variable(v.clone(), trainable, uniq(n)));
  for (const [n, v] of enc.buffers) buffers.set(n, tf.variable(v.clone(), false, uniq(n)));
  return { ...enc, params, buffers };
}

/** theta_k <- m theta_k + (1-m) theta_q for parameters only (mopro.md §1: BN buffers are not copied). */
export function emaUpdate(key: Encoder, query: Encoder, m: number): void {
  tf.tidy(() => {
    for (const [n, k] of key.params) k.assign(tf.add(tf.mul(k, m), tf.mul(query.params.get(n)!, 1 - m)));
  });
}

export function disposeEncoder(enc: Encoder): void {
  for (const v of enc.params.values()) v.dispose();
  for (const v of enc.buffers.values()) v.dispose();
}

export function paramCount(enc: Encoder): number {
  let n = 0; for (const v of enc.params.values()) n += v.size; return n;
}
