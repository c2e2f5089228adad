// One MoPro (or plain-CE) training run over decoded pixels (a PixelSource), in the step order of mopro.md §3.
// Side effects are limited to tf variables and the trainer's own state; files are written elsewhere.
import * as tf from '@tensorflow/tfjs';
import type { EngineConfig } from './config';
import {
  cloneEncoder,
  createEncoder,
  disposeEncoder,
  emaUpdate,
  EMBED_DIM,
  forward,
  headsForward,
  isHeadParam,
  type Encoder,
  type ForwardOut,
} from '../nets/model';
import { ceLoss, instanceLoss, protoLogits, protoLoss } from '../mopro/losses';
import { cleanRuleTensor } from '../mopro/clean-rule-tensor';
import { classMeanPrototypes, updatePrototypes } from '../mopro/prototypes';
import { InstanceQueue } from '../mopro/queue';
import { LossName, zeroLosses, type Losses } from '../../../src-shared/losses';
import { Rng } from '../../../src-shared/rng';
import { lrAt } from './schedule';
import { MomentumSgd } from './sgd';
import { COLOR_JITTER, GRAY_PROB, strongAugment, weakAugment } from './augment';
import { classCounts, epochOrder } from './sampling';
import { readRows, type Pixels } from '../../dataset/pixel-source';
import { shardRange } from './data-parallel';
import { groupedKeyForward, keyGroupOrder } from './key-bn-groups';

export interface TrainData {
  pixels: Pixels; //  N rows of H x W x C (a source reading batches from disk, or one array)
  n: number;
  h: number;
  w: number;
  c: number;
  labels: Int32Array; //  given (web) label per sample
  fixed: Uint8Array; //   1 = human-confirmed label (never relabelled)
  trainIdx: Int32Array; // samples used for training (excluded/undecodable left out)
  numClasses: number;
}

/** --freeze-backbone: pooled backbone features per view (N x dim each; view 0 = the image, 1 = its mirror),
 *  fed to the heads standardised with mean / std when given (frozen-features.ts foldStandardiser). */
export interface FrozenFeatures {
  views: Float32Array[];
  dim: number;
  mean?: Float32Array;
  std?: Float32Array;
}

/** A data-parallel replica's link to the others (data-parallel.ts): its rows of each batch are [lo, hi) of
 *  shardRange(B, rank, size); the gradients are averaged and the read-backs gathered through it. */
export interface ReplicaLink {
  readonly rank: number;
  readonly size: number;
  /** replaces each gradient by the replicas' average weighted by rows (`weight` = this replica's rows / B) */
  reduceGrads(grads: Map<string, tf.Tensor>, weight: number): void;
  /** the whole batch's read-back, assembled from every replica's in rank (= batch) order */
  gatherStep(
    local: Float32Array,
    o: { rows: number; batch: number; d: number; decision: boolean; keys: boolean; losses: number },
  ): Float32Array;
}

export interface StepInfo {
  loss: number; //    the weighted total
  losses: Losses; //  each term, unweighted (0 when the method or epoch does not use it)
  relabeled: number;
  ood: number;
  n: number;
}

export interface TrainerState {
  epoch: number;
  step: number; //   next step to run
  perm: Int32Array | null; //      this epoch's order
  rngState: number;
  protos: Float32Array;
  queuePtr: number;
  classSum: Float64Array | null; // class-mean accumulation during the last warm-up epoch
}

export class Trainer {
  readonly query: Encoder;
  readonly key: Encoder | null;
  readonly sgd: MomentumSgd;
  readonly queue: InstanceQueue | null;
  readonly rng: Rng;
  protos: Float32Array;
  state: TrainerState;
  readonly mean: number[];
  readonly std: number[];
  private readonly K: number;
  readonly stepsPerEpoch: number;
  /** set: the backbone is frozen and only the heads train, on these precomputed features */
  frozen: FrozenFeatures | null = null;
  /** set: one of several data-parallel replicas (data-parallel.ts) */
  replica: ReplicaLink | null = null;

  constructor(
    readonly cfg: EngineConfig,
    readonly data: TrainData,
    norm: { mean: number[]; std: number[] },
  ) {
    this.K = data.numClasses;
    this.mean = norm.mean;
    this.std = norm.std;
    this.rng = new Rng(cfg.seed * 7919 + 13);
    this.query = createEncoder(cfg.arch, data.c, this.K, cfg.seed);
    this.key = cfg.method === 'mopro' ? cloneEncoder(this.query) : null;
    this.sgd = new MomentumSgd(cfg.momentum, cfg.weightDecay);
    this.queue = cfg.method === 'mopro' ? new InstanceQueue(EMBED_DIM, cfg.queueSize, this.rng) : null;
    this.protos = new Float32Array(this.K * EMBED_DIM); // zeros (mopro.md §1)
    // drop_last (mopro.md §1: Q % B == 0 and the loader drops the last partial batch)
    this.stepsPerEpoch = Math.max(1, Math.floor(data.trainIdx.length / cfg.batchSize));
    this.state = {
      epoch: 0,
      step: 0,
      perm: null,
      rngState: this.rng.state,
      protos: this.protos,
      queuePtr: 0,
      classSum: null,
    };
  }

  private batch(idx: Int32Array): tf.Tensor4D {
    const { h, w, c, pixels } = this.data;
    const per = h * w * c;
    const px = readRows(pixels, idx, per),
      buf = new Float32Array(idx.length * per);
    for (let t = 0; t < idx.length * per; t++) buf[t] = px[t] / 255;
    return tf.tensor4d(buf, [idx.length, h, w, c]);
  }

  normalise(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d(this.mean)), tf.tensor1d(this.std)) as tf.Tensor4D);
  }

  /** Frozen backbone: each row's features from a view drawn per sample (the only augmentation left). */
  private featBatch(idx: Int32Array): tf.Tensor2D {
    const { views, dim, mean, std } = this.frozen!;
    const buf = new Float32Array(idx.length * dim);
    for (let i = 0; i < idx.length; i++) {
      const v = views[Math.min(views.length - 1, Math.floor(this.rng.next() * views.length))];
      buf.set(v.subarray(idx[i] * dim, (idx[i] + 1) * dim), i * dim);
      if (mean && std) for (let t = 0; t < dim; t++) buf[i * dim + t] = (buf[i * dim + t] - mean[t]) / std[t];
    }
    return tf.tensor2d(buf, [idx.length, dim]);
  }

  /** Pixels of the given rows as a normalised float batch (no augmentation): final pass, predict. */
  plainBatch(idx: Int32Array): tf.Tensor4D {
    return tf.tidy(() => this.normalise(this.batch(idx)));
  }

  lr(epoch: number, step: number): number {
    return lrAt(
      {
        kind: this.cfg.lrSchedule,
        base: this.cfg.lr,
        warmupEpochs: this.cfg.lrWarmupEpochs,
        epochs: this.cfg.epochs,
        milestones: [Math.round(this.cfg.epochs * 0.45), Math.round(this.cfg.epochs * 0.9)],
      },
      epoch + step / this.stepsPerEpoch,
    );
  }

  /** Starts an epoch's order if needed (resumed mid-epoch runs keep their saved order). */
  beginEpoch(): void {
    if (this.state.perm) return;
    this.state.perm = epochOrder(
      this.cfg.sampling ?? 'uniform',
      this.data.trainIdx,
      this.data.labels,
      this.K,
      this.rng,
    );
    const c = this.cfg;
    if (c.method === 'mopro' && c.protoInit === 'class-mean') {
      // classSum: [all samples | human-fixed samples only], K x (d + 1) each (sum of embeddings, count)
      if (this.state.epoch === c.cleanStartEpoch - 1)
        this.state.classSum = new Float64Array(2 * this.K * (EMBED_DIM + 1));
      if (this.state.epoch === c.cleanStartEpoch && this.state.classSum) {
        const s = this.state.classSum,
          d = EMBED_DIM,
          mean = new Float32Array(this.K * d),
          half = this.K * (d + 1);
        const has: boolean[] = [];
        // human-confirmed images count fixedProtoWeight times in their class's seed (they are already in the
        // all-images sum once, under their confirmed label); Infinity = seeded from them alone
        const w = c.fixedProtoWeight ?? Infinity;
        for (let k = 0; k < this.K; k++) {
          const a = k * (d + 1),
            f = half + k * (d + 1),
            nf = s.length >= 2 * half ? s[f + d] : 0;
          // seed = (ca * sum_all + cf * sum_fixed) / (ca * n_all + cf * n_fixed); a checkpoint from before the
          // fixed half existed has no sum_fixed, hence nf = 0 and the cf guard below
          const ca = nf > 0 && !Number.isFinite(w) ? 0 : 1,
            cf = nf === 0 ? 0 : Number.isFinite(w) ? w - 1 : 1;
          const cnt = ca * s[a + d] + cf * nf;
          has.push(cnt > 0);
          if (cnt) for (let t = 0; t < d; t++) mean[k * d + t] = (ca * s[a + t] + (cf ? cf * s[f + t] : 0)) / cnt;
        }
        const labels = Int32Array.from({ length: this.K }, (_, k) => k);
        this.protos = classMeanPrototypes(this.protos, this.K, d, mean, labels, has);
        this.state.classSum = null;
      }
    }
  }

  /** Images drawn per class in the current epoch's order (the run summary's "after" of balanced sampling). */
  epochDraws(): number[] {
    this.beginEpoch();
    return classCounts(this.state.perm!, this.data.labels, this.K);
  }

  /** One optimisation step (mopro.md §3 order); advances state.step / state.epoch. Reads back from the
   *  backend once, after the update (embeddings, keys, the cleaning decision, the losses), so a GPU is not
   *  stalled mid-step and webgpu, which only reads asynchronously, can train. */
  async step(): Promise<StepInfo> {
    this.beginEpoch();
    const c = this.cfg,
      K = this.K,
      B = c.batchSize,
      d = EMBED_DIM;
    const epoch = this.state.epoch;
    const idx = this.state.perm!.subarray(this.state.step * B, (this.state.step + 1) * B);
    // a data-parallel replica computes rows [lo, hi): it reads and augments only those, with the random draws of
    // the whole batch, so the random stream (and with it the next epoch's order) stays the same on every replica
    const rep = this.replica;
    const [lo, hi] = rep ? shardRange(idx.length, rep.rank, rep.size) : [0, idx.length];
    const part = rep ? { lo, total: idx.length } : undefined;
    const given = Int32Array.from(idx, (i) => this.data.labels[i]);
    const fixed = Array.from(idx, (i) => this.data.fixed[i] === 1);
    const lr = this.lr(epoch, this.state.step);
    const info: StepInfo = { loss: 0, losses: zeroLosses(), relabeled: 0, ood: 0, n: idx.length };
    let embArr: Float32Array = new Float32Array(0),
      keysArr: Float32Array = new Float32Array(0);
    let label: Int32Array = given,
      clean: boolean[] = Array(idx.length).fill(true);
    const mopro = c.method === 'mopro';
    const cleaning = mopro && epoch >= c.cleanStartEpoch && epoch >= c.protoStartEpoch;
    const kept: tf.Tensor[] = []; // made inside variableGrads' scope, read after it
    const readBack = tf.tidy(() => {
      const frozen = this.frozen;
      const raw = frozen ? null : this.batch(idx.subarray(lo, hi));
      const weakF = frozen ? this.featBatch(idx) : null;
      const weak = raw ? this.normalise(weakAugment(raw, this.rng, c.cropScaleMin, part)) : null;
      const queryForward = (): ForwardOut =>
        weakF ? headsForward(this.query, weakF) : forward(this.query, weak!, true);
      let keys: tf.Tensor2D | null = null;
      if (mopro) {
        // (2) EMA of the key encoder before its forward; its BN runs in train mode on its own statistics
        // (frozen backbone: only the heads move, so only they are averaged; the key sees another drawn view)
        emaUpdate(this.key!, this.query, c.keyMomentum, frozen ? isHeadParam : undefined);
        if (frozen) keys = headsForward(this.key!, this.featBatch(idx)).emb;
        else {
          const strong = this.normalise(
            strongAugment(raw!, this.rng, c.strongCropScaleMin, COLOR_JITTER, GRAY_PROB, part),
          );
          // keyBnGroups > 1: BN statistics per shuffled sub-batch of this replica's rows (key-bn-groups.ts)
          const groups = c.keyBnGroups ?? 1;
          const order = groups > 1 ? keyGroupOrder(this.rng, idx.length, lo, hi) : undefined;
          keys = groupedKeyForward(this.key!, strong, groups, order);
        }
      }
      const queueT = mopro ? tf.tensor2d(this.queue!.data, [d, c.queueSize]) : null;
      const protosT = tf.tensor2d(this.protos, [K, d]);
      const useProto = mopro && epoch >= c.protoStartEpoch;
      const varList = [...this.query.params.entries()]
        .filter(([n]) => (mopro || !n.startsWith('proj')) && (!frozen || isHeadParam(n)))
        .map(([, v]) => v);
      const { grads } = tf.variableGrads(() => {
        const o = queryForward();
        kept.push(tf.keep(o.emb));
        let pl: tf.Tensor2D | null = null;
        if (useProto) pl = protoLogits(o.emb, protosT, c.tau);
        let labelT: tf.Tensor1D = tf.tensor1d(given.subarray(lo, hi), 'int32'),
          maskT: tf.Tensor1D = tf.ones([hi - lo]);
        if (cleaning && pl) {
          const dec = cleanRuleTensor(
            o.logits,
            pl,
            labelT,
            tf.tensor1d(fixed.slice(lo, hi).map((f) => (f ? 1 : 0))),
            K,
            c.alpha,
            c.threshold,
          );
          kept.push(tf.keep(dec));
          labelT = tf.cast(tf.squeeze(tf.slice(dec, [0, 0], [-1, 1]), [1]), 'int32');
          maskT = tf.squeeze(tf.slice(dec, [0, 1], [-1, 1]), [1]);
        }
        const terms: Partial<Record<LossName, tf.Scalar>> = { ce: ceLoss(o.logits, labelT, maskT) };
        let total: tf.Scalar = terms.ce!;
        if (mopro) {
          terms.ins = instanceLoss(o.emb, keys!, queueT!, c.tau);
          total = tf.add(total, tf.mul(terms.ins, c.wIns));
          if (useProto) {
            terms.pro = protoLoss(o.emb, protosT, labelT, maskT, c.tau);
            total = tf.add(total, tf.mul(terms.pro, c.wPro));
          }
        }
        kept.push(tf.keep(tf.stack([total, ...LossName.options.map((name) => terms[name] ?? tf.scalar(0))])));
        return total;
      }, varList);
      const g = new Map<string, tf.Tensor>();
      for (const [n, v] of this.query.params) if (grads[v.name]) g.set(n, grads[v.name]);
      if (rep) rep.reduceGrads(g, (hi - lo) / idx.length);
      this.sgd.step(this.query.params, g, lr);
      return tf.concat([...kept, ...(keys ? [keys] : [])].map((t) => t.flatten()));
    });
    const local = (await readBack.data()) as Float32Array;
    readBack.dispose();
    const hasDecision = kept.length === 3;
    for (const t of kept) t.dispose();
    const all = rep
      ? rep.gatherStep(local, {
          rows: hi - lo,
          batch: idx.length,
          d,
          decision: hasDecision,
          keys: mopro,
          losses: 1 + LossName.options.length,
        })
      : local;
    // layout: emb (B x d), [decision (B x 2)], total + one value per LossName, [keys (B x d)]
    const n = idx.length;
    let at = 0;
    embArr = all.slice(at, (at += n * d));
    if (hasDecision) {
      label = new Int32Array(n);
      clean = [];
      for (let i = 0; i < n; i++) {
        label[i] = Math.round(all[at + 2 * i]);
        clean.push(all[at + 2 * i + 1] > 0.5);
        if (!clean[i]) info.ood++;
        else if (label[i] !== given[i]) info.relabeled++;
      }
      at += 2 * n;
    }
    info.loss = all[at++];
    for (const name of LossName.options) info.losses[name] = all[at++];
    if (mopro) keysArr = all.slice(at, (at += n * d));
    if (mopro) {
      // (6) prototypes: clean samples, corrected labels (all/original before cleaning starts)
      this.protos = updatePrototypes(this.protos, K, d, embArr, label, c.protoMomentum, clean);
      this.queue!.enqueue(keysArr, idx.length);
      const cs = this.state.classSum;
      if (cs)
        for (let i = 0; i < idx.length; i++) {
          const k = given[i],
            half = K * (d + 1);
          for (let t = 0; t < d; t++) cs[k * (d + 1) + t] += embArr[i * d + t];
          cs[k * (d + 1) + d]++;
          if (fixed[i] && cs.length >= 2 * half) {
            for (let t = 0; t < d; t++) cs[half + k * (d + 1) + t] += embArr[i * d + t];
            cs[half + k * (d + 1) + d]++;
          }
        }
    }
    if (!Number.isFinite(info.loss))
      throw new Error(
        `training diverged (loss ${info.loss}) at epoch ${epoch + 1}; try a smaller learning rate or batch size`,
      );
    this.state.step++;
    if (this.state.step >= this.stepsPerEpoch) {
      this.state.step = 0;
      this.state.epoch++;
      this.state.perm = null;
    }
    this.state.rngState = this.rng.state;
    this.state.protos = this.protos;
    this.state.queuePtr = this.queue?.ptr ?? 0;
    return info;
  }

  dispose(): void {
    disposeEncoder(this.query);
    if (this.key) disposeEncoder(this.key);
    this.sgd.dispose();
  }
}
