// The status column of samples.csv (design.md §3): what a person reviews. The official offline rule
// (mopro.md §2: keep q[y] > 1/K, relabel max q > T, else ood) calls every sample "ood" that the model
// has not learnt yet, and relabels OOD images into whatever class their cluster drifted to. The "best"
// rule below takes each decision from the evidence that measures best for it:
//   ood       the neighbour-label ood_score (entropy of the given labels of the nearest training images)
//             at least as high as random labels would give the same neighbourhoods (randomLabelThreshold);
//             without neighbours, a two-component mixture fitted to the scores (oodThreshold);
//   relabeled the evidence e = (q + nbr) / 2, the model's soft label averaged with the given-label shares
//             of the nearest neighbours, puts another class c ahead of the given label by RELABEL_DEFAULTS.margin,
//             and the model alone also prefers c (q_c > q_y, so the badge never shows a suggestion the model
//             ranks below the given label);
//   clean     everything else (also samples the model is unsure about: a person looks at those anyway).
// confidence = q of the final label (of the given label for ood rows), so the grid's badge says how
// sure the model is of what the status shows.
import type { StatusRuleName, TrainMethod } from '../../../src-shared/contract';
import { Rng } from '../../../src-shared/rng';
import type { Status } from '../mopro/noise-cleaning';

export type { StatusRuleName };

export interface Mixture {
  w: [number, number];
  mu: [number, number];
  sd: [number, number];
}

const normPdf = (x: number, mu: number, sd: number) =>
  Math.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * Math.sqrt(2 * Math.PI));

/** Two-component 1-D Gaussian mixture by EM, started from the 30% and 95% quantiles (OOD is the minority, high side). */
export function fitTwoGaussians(x: ArrayLike<number>, iters = 200, sdFloor = 0.01): Mixture {
  const v = Float64Array.from(x as ArrayLike<number>).sort();
  const n = v.length;
  const q = (f: number) => v[Math.min(n - 1, Math.max(0, Math.floor(f * (n - 1))))];
  let mean = 0;
  for (const a of v) mean += a;
  mean /= Math.max(1, n);
  let vr = 0;
  for (const a of v) vr += (a - mean) ** 2;
  vr /= Math.max(1, n);
  const sd0 = Math.max(sdFloor, Math.sqrt(vr) / 2);
  const m: Mixture = { w: [0.9, 0.1], mu: [q(0.3), q(0.95)], sd: [sd0, sd0] };
  if (n < 2) return m;
  const r = new Float64Array(n);
  let prevLl = -Infinity;
  for (let it = 0; it < iters; it++) {
    let ll = 0;
    for (let i = 0; i < n; i++) {
      const a = m.w[0] * normPdf(v[i], m.mu[0], m.sd[0]),
        b = m.w[1] * normPdf(v[i], m.mu[1], m.sd[1]);
      const z = a + b;
      r[i] = z > 0 ? b / z : Math.abs(v[i] - m.mu[1]) < Math.abs(v[i] - m.mu[0]) ? 1 : 0;
      ll += Math.log(Math.max(z, 1e-300));
    }
    let s1 = 0,
      s0 = 0,
      m1 = 0,
      m0 = 0;
    for (let i = 0; i < n; i++) {
      s1 += r[i];
      s0 += 1 - r[i];
      m1 += r[i] * v[i];
      m0 += (1 - r[i]) * v[i];
    }
    if (s1 < 1e-9 || s0 < 1e-9) break; // one component took everything: unimodal
    m1 /= s1;
    m0 /= s0;
    let v1 = 0,
      v0 = 0;
    for (let i = 0; i < n; i++) {
      v1 += r[i] * (v[i] - m1) ** 2;
      v0 += (1 - r[i]) * (v[i] - m0) ** 2;
    }
    m.w = [s0 / n, s1 / n];
    m.mu = [m0, m1];
    m.sd = [Math.max(sdFloor, Math.sqrt(v0 / s0)), Math.max(sdFloor, Math.sqrt(v1 / s1))];
    if (Math.abs(ll - prevLl) < 1e-9 * n) break;
    prevLl = ll;
  }
  if (m.mu[1] < m.mu[0]) (m.w.reverse(), m.mu.reverse(), m.sd.reverse());
  return m;
}

/** Posterior of the high component at x. */
export function highPosterior(m: Mixture, x: number): number {
  const a = m.w[0] * normPdf(x, m.mu[0], m.sd[0]),
    b = m.w[1] * normPdf(x, m.mu[1], m.sd[1]);
  return a + b > 0 ? b / (a + b) : x > m.mu[1] ? 1 : 0;
}

export interface OodThreshold {
  /** scores strictly above it are OOD candidates; Infinity = none */
  threshold: number;
  method: 'mixture' | 'none';
  /** Ashman's D of the two components: |mu1 - mu0| / sqrt((sd0^2 + sd1^2) / 2) */
  separation: number;
  /** share of the high component */
  weight: number;
  mixture: Mixture;
  reason: string;
}

export interface OodThresholdOptions {
  minSeparation: number;
  maxWeight: number;
  minWeight: number;
  posterior: number;
}
export const OOD_THRESHOLD_DEFAULTS: OodThresholdOptions = {
  minSeparation: 2,
  maxWeight: 0.5,
  minWeight: 0.002,
  posterior: 0.5,
};

/**
 * Threshold on ood_score from the run's own score distribution: fit two Gaussians; when the high
 * component is a clearly separate minority (Ashman's D >= minSeparation, weight in [minWeight, maxWeight])
 * the threshold is where its posterior reaches `posterior`; otherwise the scores are one population
 * (no OOD images, or a model that cannot tell) and nothing is flagged.
 */
export function oodThreshold(scores: ArrayLike<number>, o: Partial<OodThresholdOptions> = {}): OodThreshold {
  const opt = { ...OOD_THRESHOLD_DEFAULTS, ...o };
  const m = fitTwoGaussians(scores);
  const sep = Math.abs(m.mu[1] - m.mu[0]) / Math.sqrt((m.sd[0] ** 2 + m.sd[1] ** 2) / 2);
  const base = { separation: sep, weight: m.w[1], mixture: m };
  if (!(sep >= opt.minSeparation))
    return {
      ...base,
      threshold: Infinity,
      method: 'none',
      reason: `one population (separation ${sep.toFixed(2)} < ${opt.minSeparation})`,
    };
  if (m.w[1] > opt.maxWeight || m.w[1] < opt.minWeight) {
    return {
      ...base,
      threshold: Infinity,
      method: 'none',
      reason: `high component holds ${(100 * m.w[1]).toFixed(1)}% of the images (outside ${100 * opt.minWeight}-${100 * opt.maxWeight}%)`,
    };
  }
  // bisection between the means for the point where the high component's posterior reaches opt.posterior
  let lo = m.mu[0],
    hi = m.mu[1];
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (highPosterior(m, mid) < opt.posterior) lo = mid;
    else hi = mid;
  }
  return {
    ...base,
    threshold: (lo + hi) / 2,
    method: 'mixture',
    reason: `two populations (separation ${sep.toFixed(2)})`,
  };
}

export interface RelabelOptions {
  /** e_c - e_y must exceed this (Infinity: never relabel) */
  margin: number;
}
/**
 * Margin 0.25 on e = (q + nbr) / 2, from an offline sweep over 9 finished Quick runs (bundled sample, 2,000 and
 * 10,000 images, 3 seeds each; engine README): noise F1 80.0 / 80.8 / 87.2% against 63.8 / 66.3 / 79.8% when
 * p, s and the neighbour vote all had to agree; 0.2 and 0.3 were within a point, equal weights of p, s, nbr too.
 */
export const RELABEL_DEFAULTS: RelabelOptions = { margin: 0.25 };

export interface StatusRuleInput {
  /** n x K: classifier softmax p, prototype softmax s, their blend q (the soft label written to q.f32) */
  p: Float32Array;
  s: Float32Array;
  q: Float32Array;
  /** n x K share of each given label among the nearest neighbours (rows sum to 1, or 0 without neighbours) */
  nbr: Float32Array;
  ood: Float32Array;
  given: ArrayLike<number>;
  K: number;
  /** human-confirmed labels: never relabelled, never OOD */
  fixed?: ArrayLike<boolean | number>;
}

export interface StatusRuleOut {
  status: Status[];
  label: Int32Array;
  confidence: Float32Array;
}

const argmaxRow = (a: Float32Array, i: number, K: number) => {
  let b = 0;
  for (let k = 1; k < K; k++) if (a[i * K + k] > a[i * K + b]) b = k;
  return b;
};

/** The "best" rule with a given OOD threshold (see the header). */
export function applyStatusRule(inp: StatusRuleInput, oodThr: number, o: Partial<RelabelOptions> = {}): StatusRuleOut {
  const opt = { ...RELABEL_DEFAULTS, ...o };
  const { q, nbr, ood, given, K } = inp;
  const n = given.length;
  const status: Status[] = new Array(n),
    label = new Int32Array(n),
    confidence = new Float32Array(n);
  const e = new Float32Array(K);
  for (let i = 0; i < n; i++) {
    const y = given[i];
    label[i] = y;
    if (inp.fixed && inp.fixed[i]) {
      status[i] = 'clean';
      confidence[i] = q[i * K + y];
      continue;
    }
    if (ood[i] > oodThr) {
      status[i] = 'ood';
      confidence[i] = q[i * K + y];
      continue;
    }
    // a row without neighbours (a bank of one) is judged on q alone
    let nbrSum = 0;
    for (let k = 0; k < K; k++) nbrSum += nbr[i * K + k];
    for (let k = 0; k < K; k++) e[k] = nbrSum > 0 ? (q[i * K + k] + nbr[i * K + k]) / 2 : q[i * K + k];
    const c = argmaxRow(e, 0, K);
    const relabel = c !== y && e[c] - e[y] > opt.margin && q[i * K + c] > q[i * K + y];
    if (relabel) label[i] = c;
    status[i] = relabel ? 'relabeled' : 'clean';
    confidence[i] = q[i * K + label[i]];
  }
  return { status, label, confidence };
}

/** Label-free signs of how far the model has learnt the folder. */
export interface StrengthStats {
  /** share of samples where the classifier's and the prototypes' top class agree */
  agreePS: number;
  /** mean of the classifier's top probability */
  meanMaxP: number;
}

export function strengthStats(p: Float32Array, s: Float32Array, rows: ArrayLike<number>, K: number): StrengthStats {
  let agree = 0,
    maxP = 0;
  for (let j = 0; j < rows.length; j++) {
    const i = rows[j];
    if (argmaxRow(p, i, K) === argmaxRow(s, i, K)) agree++;
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, p[i * K + k]);
    maxP += m;
  }
  const n = Math.max(1, rows.length);
  return { agreePS: agree / n, meanMaxP: maxP / n };
}

export interface TrainingFacts {
  method: TrainMethod;
  epochsDone: number;
  /** first epoch of noise cleaning (MoPro) */
  cleanStartEpoch: number;
}

export interface Verdict {
  trusted: boolean;
  reason: string;
  advice: string | null;
}

export interface StrengthOptions {
  minAgreePS: number;
  minMeanMaxP: number;
}
export const STRENGTH_DEFAULTS: StrengthOptions = { minAgreePS: 0.7, minMeanMaxP: 0.5 };

/** Whether the model has learnt enough for its suggestions to be shown as such (thresholds: engine README). */
export function judgeStrength(st: StrengthStats, t: TrainingFacts, o: Partial<StrengthOptions> = {}): Verdict {
  const opt = { ...STRENGTH_DEFAULTS, ...o };
  const advice =
    'train longer (a higher preset or more epochs), or start from pretrained weights (--pretrained, or --init with an earlier run on similar images)';
  if (t.method === 'mopro' && t.epochsDone <= t.cleanStartEpoch) {
    return {
      trusted: false,
      reason: `noise cleaning never ran (it starts at epoch ${t.cleanStartEpoch + 1}, the run trained ${t.epochsDone})`,
      advice,
    };
  }
  if (st.agreePS < opt.minAgreePS) {
    return {
      trusted: false,
      reason: `classifier and prototypes agree on only ${(100 * st.agreePS).toFixed(0)}% of the images (at least ${100 * opt.minAgreePS}% for trusted suggestions)`,
      advice,
    };
  }
  if (st.meanMaxP < opt.minMeanMaxP) {
    return {
      trusted: false,
      reason: `the classifier's mean top probability is ${st.meanMaxP.toFixed(2)} (at least ${opt.minMeanMaxP} for trusted suggestions)`,
      advice,
    };
  }
  return {
    trusted: true,
    reason: `classifier and prototypes agree on ${(100 * st.agreePS).toFixed(0)}% of the images, mean top probability ${st.meanMaxP.toFixed(2)}`,
    advice: null,
  };
}

/** A model judged too weak still points at the few most suspicious images: this share, by ood_score. */
export const WEAK_OOD_SHARE = 0.02;

/** ood_score above which exactly the top `share` of the scores lie (at least one row). */
export function topShareThreshold(scores: ArrayLike<number>, share: number): number {
  const v = Array.from(scores).sort((a, b) => b - a);
  if (!v.length) return Infinity;
  const m = Math.max(1, Math.floor(share * v.length));
  // strictly above the (m+1)-th largest; ties at the cut stay out
  return m < v.length ? v[m] : -Infinity;
}

export interface StatusRuleInfo {
  name: StatusRuleName;
  /** what the ood_score column is */
  oodScore?: string;
  /** OOD candidates: ood_score > threshold (null: none flagged) */
  oodThreshold: number | null;
  oodRule: string;
  relabelRule: string;
  /** the weak-model verdict (the official rule reports it too, without acting on it) */
  trusted: boolean;
  reason: string;
  advice: string | null;
  stats: StrengthStats & { separation?: number; highWeight?: number };
}

/** Neighbours of every row with their weights, and the folder's label frequencies: the null model of randomLabelThreshold. */
export interface NeighbourNull {
  weights: Float32Array;
  k: number;
  marginal: ArrayLike<number>;
}

export const RANDOM_LABEL_ALPHA = 0.05;
/** More OOD candidates than this share means the score cannot separate them here: only the top few are shown. */
export const MAX_OOD_SHARE = 0.3;

/**
 * The "best" rule for a run: OOD threshold (randomLabelThreshold when the neighbours are given, else the
 * mixture), the strength verdict, then applyStatusRule. A model judged too weak flags only the
 * WEAK_OOD_SHARE highest ood_scores and relabels nothing.
 */
export function bestStatuses(
  inp: StatusRuleInput,
  usable: ArrayLike<number>,
  facts: TrainingFacts,
  nul?: NeighbourNull,
): { out: StatusRuleOut; info: StatusRuleInfo } {
  const scores = Array.from(usable, (i) => inp.ood[i]);
  const stats = strengthStats(inp.p, inp.s, usable, inp.K);
  const verdict = judgeStrength(stats, facts);
  const relabelRule = `the mean of q and the neighbours' label shares puts another class more than ${RELABEL_DEFAULTS.margin} ahead of the given label, and q prefers it too`;
  const weakOod = () => topShareThreshold(scores, WEAK_OOD_SHARE);
  if (!verdict.trusted) {
    const thr = weakOod();
    const out = applyStatusRule(inp, thr, { margin: Infinity });
    return {
      out,
      info: {
        name: 'best',
        oodThreshold: Number.isFinite(thr) ? thr : null,
        oodRule: `model too weak: only the top ${100 * WEAK_OOD_SHARE}% of ood_score`,
        relabelRule: 'model too weak: no relabels',
        ...verdict,
        stats,
      },
    };
  }
  let thr: number, oodRule: string;
  const extra: { separation?: number; highWeight?: number } = {};
  if (nul) {
    const u = Array.from(usable);
    const w = new Float32Array(u.length * nul.k);
    u.forEach((i, j) => w.set(nul.weights.subarray(i * nul.k, (i + 1) * nul.k), j * nul.k));
    thr = randomLabelThreshold(w, nul.k, nul.marginal, RANDOM_LABEL_ALPHA);
    oodRule = `ood_score at least as high as for ${100 * (1 - RANDOM_LABEL_ALPHA)}% of the same neighbourhoods with random labels (folder label frequencies)`;
  } else {
    const t = oodThreshold(scores);
    thr = t.threshold;
    extra.separation = t.separation;
    extra.highWeight = t.weight;
    oodRule = `two-Gaussian mixture on ood_score, threshold where the high component's posterior is ${OOD_THRESHOLD_DEFAULTS.posterior}: ${t.reason}`;
  }
  const share = scores.filter((x) => x > thr).length / Math.max(1, scores.length);
  if (share > MAX_OOD_SHARE) {
    oodRule = `${oodRule}; it would flag ${(100 * share).toFixed(0)}% (over ${100 * MAX_OOD_SHARE}%): the score does not separate OOD images here, only the top ${100 * WEAK_OOD_SHARE}% are shown`;
    thr = weakOod();
  }
  const out = applyStatusRule(inp, thr);
  return {
    out,
    info: {
      name: 'best',
      oodThreshold: Number.isFinite(thr) ? thr : null,
      oodRule,
      relabelRule,
      ...verdict,
      stats: { ...stats, ...extra },
    },
  };
}

/** Normalised entropy (0..1) of each row of an n x K share matrix; 0 for an all-zero row. */
export function normalisedEntropy(shares: Float32Array, K: number): Float32Array {
  const n = shares.length / K,
    out = new Float32Array(n),
    z = Math.log(K);
  for (let i = 0; i < n; i++) {
    let e = 0;
    for (let c = 0; c < K; c++) {
      const v = shares[i * K + c];
      if (v > 0) e -= v * Math.log(v);
    }
    out[i] = e / z;
  }
  return out;
}

/** Rows of the null sample of randomLabelThreshold (evenly spaced over the folder). */
const MAX_NULL_ROWS = 5000;

/**
 * The OOD threshold as "as mixed as random labels": for each row, its own neighbour weights with labels drawn
 * at random from the folder's label frequencies give a null sample of the score; the threshold is the
 * `alpha` quantile of all null samples. An image whose neighbours' labels are as mixed as random labels
 * carries no class signal: an OOD candidate. weights: n x k neighbour weights (0 = no neighbour).
 */
export function randomLabelThreshold(
  weights: Float32Array,
  k: number,
  marginal: ArrayLike<number>,
  alpha = 0.05,
  draws = 16,
  seed = 1,
): number {
  const n = weights.length / k,
    K = marginal.length;
  const cdf = new Float64Array(K);
  let tot = 0;
  for (let c = 0; c < K; c++) tot += marginal[c];
  let acc = 0;
  for (let c = 0; c < K; c++) {
    acc += marginal[c] / Math.max(1e-12, tot);
    cdf[c] = acc;
  }
  const rng = new Rng(seed);
  const rnd = () => rng.next();
  // a global quantile: at most MAX_NULL_ROWS rows (evenly spaced) keep 100k-image folders fast
  const step = Math.max(1, Math.ceil(n / MAX_NULL_ROWS)),
    rows = Math.ceil(n / step);
  const h = new Float64Array(K),
    samples = new Float32Array(rows * draws),
    zK = Math.log(K);
  const draw = (u: number) => {
    let lo = 0,
      hi = K - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (let ri = 0; ri < rows; ri++)
    for (let r = 0; r < draws; r++) {
      const i = ri * step;
      h.fill(0);
      let z = 0;
      for (let j = 0; j < k; j++) {
        const w = weights[i * k + j];
        if (!(w > 0)) continue;
        const c = draw(rnd());
        h[c] += w;
        z += w;
      }
      let e = 0;
      if (z)
        for (let c = 0; c < K; c++) {
          const v = h[c] / z;
          if (v > 0) e -= v * Math.log(v);
        }
      samples[ri * draws + r] = e / zK;
    }
  samples.sort();
  return samples[Math.min(samples.length - 1, Math.floor(alpha * samples.length))];
}
