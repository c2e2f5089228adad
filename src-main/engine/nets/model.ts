// The encoder of mopro.md §1 as plain tf ops on named variables: a ResNet or DenseNet backbone, a classifier
// head (logits z) and a projection head (Linear-ReLU-Linear -> 128-d, L2-normalised: v).
// Plain variables instead of tf.layers so the momentum (key) encoder, EMA updates, our SGD and the
// checkpoint can address every weight and BN statistic by name.
import * as tf from '@tensorflow/tfjs';
import { batchNormEval, batchNormTrain } from './batchnorm';
import { Rng } from '../../../src-shared/rng';

export interface ArchSpec {
  /** stem conv: channels, kernel, stride; optional 3x3/2 max-pool (ImageNet-style stems) */
  stem: { ch: number; k: number; stride: number; pool: boolean };
  /** residual stages: [channels, first-block stride, blocks]; for bottleneck blocks channels is the
   *  block's width and its output is BOTTLENECK_EXPANSION x width. Empty for a DenseNet. */
  stages: [number, number, number][];
  /** residual block kind; absent = 'basic' (two 3x3 convs). Left off the small archs so their JSON,
   *  which bench/torch_throughput.py rebuilds in PyTorch, keeps its shape. */
  block?: 'basic' | 'bottleneck';
  /** a DenseNet body (torchvision layout) after the stem instead of residual stages */
  dense?: DenseSpec;
  /** pad every conv k//2 on each side and the stem pool 1, as torchvision does, instead of TF 'same' (which
   *  at stride 2 on even sizes pads one pixel less on the top/left): torchvision weights need the same windows */
  torchPad?: boolean;
  note: string;
}

/** DenseNet-BC: dense blocks of [BN-ReLU-conv1x1 to bnSize x growth, BN-ReLU-conv3x3 to growth, concat],
 *  transitions BN-ReLU-conv1x1 halving the channels + 2x2/2 average pool, final BN-ReLU. */
export interface DenseSpec {
  growth: number;
  bnSize: number;
  blocks: number[];
}

/** torchvision Bottleneck.expansion: 1x1 (width) -> 3x3 (width, stride) -> 1x1 (4 x width) */
export const BOTTLENECK_EXPANSION = 4;

/** Channels entering each dense block and leaving the body (the transitions halve, rounding down as torchvision). */
export function denseChannels(d: DenseSpec, stemCh: number): { blockIn: number[]; out: number } {
  const blockIn: number[] = [];
  let c = stemCh;
  d.blocks.forEach((n, bi) => {
    blockIn.push(c);
    c += n * d.growth;
    if (bi < d.blocks.length - 1) c = Math.floor(c / 2);
  });
  return { blockIn, out: c };
}

// Measured on this 2-core box (wasm SIMD, one thread; see engine README in run.json notes):
// 'resnet-s' is the PyTorch reference net of toolchain.md; 'resnet-tiny' downsamples right after
// the stem, which cuts the 28x28 work ~3x for a small accuracy cost; 'resnet18' is for 224 px on a GPU.
export const ARCHS: Record<string, ArchSpec> = {
  'resnet-tiny': {
    stem: { ch: 32, k: 3, stride: 1, pool: false },
    stages: [
      [64, 2, 1],
      [128, 2, 1],
    ],
    note: 'stem 32, blocks 64/s2, 128/s2; for 28-32 px on CPU',
  },
  'resnet-narrow': {
    stem: { ch: 24, k: 3, stride: 1, pool: false },
    stages: [
      [48, 2, 1],
      [96, 2, 1],
    ],
    note: 'stem 24, blocks 48/s2, 96/s2',
  },
  'resnet-micro': {
    stem: { ch: 16, k: 3, stride: 1, pool: false },
    stages: [
      [32, 2, 1],
      [64, 2, 1],
    ],
    note: 'stem 16, blocks 32/s2, 64/s2',
  },
  'resnet-s': {
    stem: { ch: 32, k: 3, stride: 1, pool: false },
    stages: [
      [32, 1, 1],
      [64, 2, 1],
      [128, 2, 1],
    ],
    note: 'stem 32, blocks 32, 64/s2, 128/s2 (the PyTorch reference net)',
  },
  'resnet-m': {
    stem: { ch: 32, k: 3, stride: 1, pool: false },
    stages: [
      [64, 2, 2],
      [128, 2, 2],
    ],
    note: 'stem 32, 2x64/s2, 2x128/s2',
  },
  resnet18: {
    stem: { ch: 64, k: 7, stride: 2, pool: true },
    stages: [
      [64, 1, 2],
      [128, 2, 2],
      [256, 2, 2],
      [512, 2, 2],
    ],
    torchPad: true,
    note: 'ResNet-18 for 224 px (GPU)',
  },
  // torchvision layouts (backbones match torchvision's parameter counts exactly): for 224 px on a GPU
  // (tfjs-node-gpu); on wasm/cpu they are far too slow to train.
  resnet34: {
    stem: { ch: 64, k: 7, stride: 2, pool: true },
    stages: [
      [64, 1, 3],
      [128, 2, 4],
      [256, 2, 6],
      [512, 2, 3],
    ],
    torchPad: true,
    note: 'ResNet-34 for 224 px on a GPU (tfjs-node-gpu); far too slow to train on wasm',
  },
  resnet50: {
    stem: { ch: 64, k: 7, stride: 2, pool: true },
    stages: [
      [64, 1, 3],
      [128, 2, 4],
      [256, 2, 6],
      [512, 2, 3],
    ],
    block: 'bottleneck',
    torchPad: true,
    note: 'ResNet-50 (bottleneck v1.5, 2048-d features) for 224 px on a GPU (tfjs-node-gpu); far too slow to train on wasm',
  },
  resnet101: {
    stem: { ch: 64, k: 7, stride: 2, pool: true },
    stages: [
      [64, 1, 3],
      [128, 2, 4],
      [256, 2, 23],
      [512, 2, 3],
    ],
    block: 'bottleneck',
    torchPad: true,
    note: 'ResNet-101 (bottleneck v1.5, 2048-d features) for 224 px on a GPU (tfjs-node-gpu); far too slow to train on wasm',
  },
  densenet121: {
    stem: { ch: 64, k: 7, stride: 2, pool: true },
    stages: [],
    dense: { growth: 32, bnSize: 4, blocks: [6, 12, 24, 16] },
    torchPad: true,
    note: 'DenseNet-121 (1024-d features) for 224 px on a GPU (tfjs-node-gpu); far too slow to train on wasm',
  },
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

export interface ForwardOut {
  feat: tf.Tensor2D;
  logits: tf.Tensor2D;
  emb: tf.Tensor2D;
}

let encoderSerial = 0;
/** tf variable names are global per thread: prefix each encoder's names uniquely. */
function uniq(n: string): string {
  return `e${encoderSerial}/${n}`;
}

export function createEncoder(
  arch: string,
  inChannels: number,
  numClasses: number,
  seed = 0,
  trainable = true,
): Encoder {
  // tidy frees the initial values: each variable keeps its own copy (without it every encoder leaked one
  // tensor per weight, e.g. 41 per loadModel for resnet-micro); tidy never disposes variables
  let enc: Encoder | null = null;
  tf.tidy(() => {
    enc = buildEncoder(arch, inChannels, numClasses, seed, trainable);
  });
  return enc!;
}

function buildEncoder(arch: string, inChannels: number, numClasses: number, seed: number, trainable: boolean): Encoder {
  encoderSerial++;
  const spec = ARCHS[arch];
  if (!spec) throw new Error(`unknown --arch "${arch}": use one of ${Object.keys(ARCHS).join(', ')}`);
  // one seed per initialiser, drawn from the shared seeded stream
  const rng = new Rng(seed + 17),
    next = () => rng.tfSeed();
  const params = new Map<string, tf.Variable>();
  const buffers = new Map<string, tf.Variable>();
  // He-normal as torchvision initialises each family: ResNet fan-out, DenseNet kaiming_normal_'s default fan-in
  const fanIn = !!spec.dense;
  const conv = (name: string, k: number, ci: number, co: number) => {
    params.set(
      `${name}/w`,
      tf.variable(
        tf.randomNormal([k, k, ci, co], 0, Math.sqrt(2 / (k * k * (fanIn ? ci : co))), 'float32', next()),
        trainable,
        uniq(`${name}/w`),
      ),
    );
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
    params.set(
      `${name}/w`,
      tf.variable(tf.randomUniform([i, o], -b, b, 'float32', next()), trainable, uniq(`${name}/w`)),
    );
    params.set(`${name}/b`, tf.variable(tf.randomUniform([o], -b, b, 'float32', next()), trainable, uniq(`${name}/b`)));
  };
  conv('stem', spec.stem.k, inChannels, spec.stem.ch);
  bn('stem/bn', spec.stem.ch);
  let ci = spec.stem.ch;
  if (spec.dense) {
    // creation order = torchvision module order (norm1, conv1, norm2, conv2; transition norm, conv; norm5)
    const d = spec.dense,
      { blockIn, out } = denseChannels(d, spec.stem.ch),
      mid = d.bnSize * d.growth;
    d.blocks.forEach((n, bi) => {
      for (let li = 0; li < n; li++) {
        const p = `d${bi}l${li}`,
          c = blockIn[bi] + li * d.growth;
        bn(`${p}/bn1`, c);
        conv(`${p}/c1`, 1, c, mid);
        bn(`${p}/bn2`, mid);
        conv(`${p}/c2`, 3, mid, d.growth);
      }
      if (bi < d.blocks.length - 1) {
        const c = blockIn[bi] + n * d.growth;
        bn(`t${bi}/bn`, c);
        conv(`t${bi}/c`, 1, c, blockIn[bi + 1]);
      }
    });
    bn('final/bn', out);
    ci = out;
  } else if (spec.block === 'bottleneck') {
    spec.stages.forEach(([w, stride, blocks], si) => {
      const co = w * BOTTLENECK_EXPANSION;
      for (let bi = 0; bi < blocks; bi++) {
        const s = bi === 0 ? stride : 1,
          p = `s${si}b${bi}`;
        conv(`${p}/c1`, 1, ci, w);
        bn(`${p}/bn1`, w);
        conv(`${p}/c2`, 3, w, w);
        bn(`${p}/bn2`, w);
        conv(`${p}/c3`, 1, w, co);
        bn(`${p}/bn3`, co);
        if (s !== 1 || ci !== co) {
          conv(`${p}/sc`, 1, ci, co);
          bn(`${p}/scbn`, co);
        }
        ci = co;
      }
    });
  } else {
    spec.stages.forEach(([co, stride, blocks], si) => {
      for (let bi = 0; bi < blocks; bi++) {
        const s = bi === 0 ? stride : 1,
          p = `s${si}b${bi}`;
        conv(`${p}/c1`, 3, ci, co);
        bn(`${p}/bn1`, co);
        conv(`${p}/c2`, 3, co, co);
        bn(`${p}/bn2`, co);
        if (s !== 1 || ci !== co) {
          conv(`${p}/sc`, 1, ci, co);
          bn(`${p}/scbn`, co);
        }
        ci = co;
      }
    });
  }
  if (ci !== featureDim(arch))
    throw new Error(`internal: ${arch} body ends at ${ci} channels, featureDim says ${featureDim(arch)}`);
  dense('cls', ci, numClasses);
  dense('proj1', ci, ci);
  dense('proj2', ci, EMBED_DIM);
  return { arch, inChannels, numClasses, params, buffers };
}

export function featureDim(arch: string): number {
  const s = ARCHS[arch];
  if (s.dense) return denseChannels(s.dense, s.stem.ch).out;
  if (!s.stages.length) return s.stem.ch;
  return s.stages[s.stages.length - 1][0] * (s.block === 'bottleneck' ? BOTTLENECK_EXPANSION : 1);
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
  // 'same' = PyTorch's k//2 padding at stride 1; at stride 2 on even sizes TF pads one pixel less on the
  // top/left (same output size and parameters, windows shifted by one pixel), so the torchvision layouts pad
  // explicitly (same output sizes for odd k as 'same': ceil(n / stride))
  const conv = (h: tf.Tensor4D, name: string, stride: number) => {
    const w = P(`${name}/w`) as tf.Tensor4D;
    return tf.conv2d(h, w, stride, spec.torchPad ? (w.shape[0] - 1) / 2 : 'same');
  };
  const bn = (h: tf.Tensor4D, name: string): tf.Tensor4D => {
    const gamma = P(`${name}/gamma`) as tf.Tensor1D,
      beta = P(`${name}/beta`) as tf.Tensor1D;
    const rm = enc.buffers.get(`${name}/mean`)!,
      rv = enc.buffers.get(`${name}/var`)!;
    if (!training) return batchNormEval(h, rm as tf.Tensor1D, rv as tf.Tensor1D, gamma, beta, BN_EPS);
    const n = h.size / h.shape[3];
    return batchNormTrain(
      h,
      gamma,
      beta,
      BN_EPS,
      updateStats
        ? ({ mean, variance }) => {
            // the loss never depends on the running statistics, so no gradient flows through these
            tf.tidy(() => {
              rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
              rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(variance, (BN_MOMENTUM * n) / Math.max(1, n - 1))));
            });
          }
        : undefined,
    );
  };
  let h = tf.relu(bn(conv(x, 'stem', spec.stem.stride), 'stem/bn'));
  if (spec.stem.pool) h = tf.maxPool(h, 3, 2, spec.torchPad ? 1 : 'same');
  let ci = spec.stem.ch;
  if (spec.dense) {
    const d = spec.dense;
    d.blocks.forEach((n, bi) => {
      const feats: tf.Tensor4D[] = [h];
      for (let li = 0; li < n; li++) {
        const p = `d${bi}l${li}`;
        const x = feats.length === 1 ? feats[0] : tf.concat(feats, 3);
        const o = conv(tf.relu(bn(x, `${p}/bn1`)), `${p}/c1`, 1);
        feats.push(conv(tf.relu(bn(o, `${p}/bn2`)), `${p}/c2`, 1));
      }
      h = tf.concat(feats, 3);
      if (bi < d.blocks.length - 1) h = transitionPool(conv(tf.relu(bn(h, `t${bi}/bn`)), `t${bi}/c`, 1));
    });
    h = tf.relu(bn(h, 'final/bn'));
  } else if (spec.block === 'bottleneck') {
    spec.stages.forEach(([w, stride, blocks], si) => {
      const co = w * BOTTLENECK_EXPANSION;
      for (let bi = 0; bi < blocks; bi++) {
        // v1.5: the stride sits on the 3x3 conv, not the first 1x1
        const s = bi === 0 ? stride : 1,
          p = `s${si}b${bi}`;
        let o = tf.relu(bn(conv(h, `${p}/c1`, 1), `${p}/bn1`));
        o = tf.relu(bn(conv(o, `${p}/c2`, s), `${p}/bn2`));
        o = bn(conv(o, `${p}/c3`, 1), `${p}/bn3`);
        const sc = s !== 1 || ci !== co ? bn(conv(h, `${p}/sc`, s), `${p}/scbn`) : h;
        h = tf.relu(tf.add(o, sc));
        ci = co;
      }
    });
  } else {
    spec.stages.forEach(([co, stride, blocks], si) => {
      for (let bi = 0; bi < blocks; bi++) {
        const s = bi === 0 ? stride : 1,
          p = `s${si}b${bi}`;
        let o = tf.relu(bn(conv(h, `${p}/c1`, s), `${p}/bn1`));
        o = bn(conv(o, `${p}/c2`, 1), `${p}/bn2`);
        const sc = s !== 1 || ci !== co ? bn(conv(h, `${p}/sc`, s), `${p}/scbn`) : h;
        h = tf.relu(tf.add(o, sc));
        ci = co;
      }
    });
  }
  return headsForward(enc, tf.mean(h, [1, 2]) as tf.Tensor2D);
}

/** Parameters of the classifier and projection heads (everything else is the backbone). */
export function isHeadParam(name: string): boolean {
  return /^(cls|proj1|proj2)\//.test(name);
}

/** The classifier and projection heads on pooled backbone features (a frozen backbone's cached features). */
export function headsForward(enc: Encoder, feat: tf.Tensor2D): ForwardOut {
  const P = (n: string) => enc.params.get(n)!;
  const lin = (a: tf.Tensor2D, n: string) =>
    tf.add(tf.matMul(a, P(`${n}/w`) as tf.Tensor2D), P(`${n}/b`)) as tf.Tensor2D;
  const logits = lin(feat, 'cls');
  const e = lin(tf.relu(lin(feat, 'proj1')), 'proj2');
  // L2 normalise; the 1e-12 only guards an all-zero row (the official code divides by the bare norm)
  const emb = tf.div(e, tf.add(tf.norm(e, 2, 1, true), 1e-12)) as tf.Tensor2D;
  return { feat, logits, emb };
}

/**
 * DenseNet transition pool, AvgPool2d(2, 2) as torchvision: 'valid' windows, so odd sizes round down
 * exactly like PyTorch (and no padded window, whose average the cpu backend's gradient gets wrong).
 * A side already 1 pixel wide is left as is instead of failing (small inputs, e.g. 28 px).
 */
function transitionPool(h: tf.Tensor4D): tf.Tensor4D {
  const kh = Math.min(2, h.shape[1]),
    kw = Math.min(2, h.shape[2]);
  return kh === 1 && kw === 1 ? h : tf.avgPool(h, [kh, kw], [kh, kw], 'valid');
}

/** A copy with identical weights and statistics (the momentum encoder starts as the query's copy). */
export function cloneEncoder(enc: Encoder, trainable = false): Encoder {
  encoderSerial++;
  const params = new Map<string, tf.Variable>(),
    buffers = new Map<string, tf.Variable>();
  // tidy frees the clones (each variable holds its own reference to the data), as in createEncoder: without
  // it every key encoder left one tensor per weight behind (41 per run for resnet-micro)
  tf.tidy(() => {
    for (const [n, v] of enc.params) params.set(n, tf.variable(v.clone(), trainable, uniq(n)));
    for (const [n, v] of enc.buffers) buffers.set(n, tf.variable(v.clone(), false, uniq(n)));
  });
  return { ...enc, params, buffers };
}

/** theta_k <- m theta_k + (1-m) theta_q for parameters only (mopro.md §1: BN buffers are not copied).
 *  `only` limits it to some parameters (a frozen backbone is equal in both encoders: nothing to average). */
export function emaUpdate(key: Encoder, query: Encoder, m: number, only?: (name: string) => boolean): void {
  tf.tidy(() => {
    for (const [n, k] of key.params)
      if (!only || only(n)) k.assign(tf.add(tf.mul(k, m), tf.mul(query.params.get(n)!, 1 - m)));
  });
}

export function disposeEncoder(enc: Encoder): void {
  for (const v of enc.params.values()) v.dispose();
  for (const v of enc.buffers.values()) v.dispose();
}

export function paramCount(enc: Encoder): number {
  let n = 0;
  for (const v of enc.params.values()) n += v.size;
  return n;
}
