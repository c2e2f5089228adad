// Pure maths of the engine against hand-computed values (mopro.md §2, §6.2, §6.11).
import { describe, expect, it } from 'vitest';
import { cleanRule, softmaxRows } from './noise-cleaning';
import { classMeanPrototypes, updatePrototypes } from './prototypes';
import { sgdStepScalar } from '../train/sgd';
import { lrAt } from '../train/schedule';
import { InstanceQueue } from './queue';
import { Rng } from '../../../src-shared/rng';
import { resolveConfig } from '../train/config';
import { oodScores } from '../eval/ood-score';

describe('cleaning rule (mopro.md §2)', () => {
  // K = 4, alpha = 0.5, T = 0.8
  const K = 4;
  const p = new Float32Array([
    0.9,
    0.05,
    0.03,
    0.02, //  row 0: confident, agrees with label 0
    0.02,
    0.95,
    0.02,
    0.01, // row 1: confident in class 1, label 0
    0.3,
    0.3,
    0.2,
    0.2, //     row 2: label 2 plausible (q[2] = 0.25 ... see below)
    0.1,
    0.4,
    0.4,
    0.1, //     row 3: nothing confident, label 3 implausible
  ]);
  const s = new Float32Array([0.8, 0.1, 0.05, 0.05, 0.1, 0.85, 0.03, 0.02, 0.2, 0.2, 0.32, 0.28, 0.1, 0.45, 0.35, 0.1]);
  const y = [0, 0, 2, 3];
  it('computes q, keeps, relabels and flags OOD with strict inequalities', () => {
    const r = cleanRule(p, s, y, K, 0.5, 0.8);
    // hand: q0 = [0.85, 0.075, 0.04, 0.035]; q1 = [0.06, 0.9, 0.025, 0.015]
    //       q2 = [0.25, 0.25, 0.26, 0.24]; q3 = [0.1, 0.425, 0.375, 0.1]
    expect(Array.from(r.q.slice(0, 4))).toEqual([0.85, 0.075, 0.04, 0.035].map((v) => Math.fround(v)));
    expect(r.q[2 * K + 2]).toBeCloseTo(0.26, 6);
    expect(r.status).toEqual(['clean', 'relabeled', 'clean', 'ood']);
    expect(Array.from(r.label)).toEqual([0, 1, 2, 3]);
    expect(r.clean).toEqual([true, true, true, false]);
  });
  it('q[y] exactly 1/K is not kept (strict >)', () => {
    const r = cleanRule(
      new Float32Array([0.25, 0.25, 0.25, 0.25]),
      new Float32Array([0.25, 0.25, 0.25, 0.25]),
      [1],
      4,
      0.5,
      0.8,
    );
    expect(r.status).toEqual(['ood']);
  });
  it('max q exactly T does not relabel (strict >)', () => {
    const r = cleanRule(new Float32Array([0.75, 0.25]), new Float32Array([0.75, 0.25]), [1], 2, 0.5, 0.75);
    expect(r.status).toEqual(['ood']); // q[1] = 0.25 < 1/2, max 0.75 not > T = 0.75
  });
  it('fixed (human-confirmed) labels are never relabelled nor dropped', () => {
    const r = cleanRule(p, s, y, K, 0.5, 0.8, [false, true, false, true]);
    expect(r.status).toEqual(['clean', 'clean', 'clean', 'clean']);
    expect(Array.from(r.label)).toEqual([0, 0, 2, 3]);
  });
  it('softmax with temperature', () => {
    const out = softmaxRows(new Float32Array([0, Math.log(3) * 0.1]), 1, 2, 0.1);
    expect(out[0]).toBeCloseTo(0.25, 6);
    expect(out[1]).toBeCloseTo(0.75, 6);
  });
});

describe('prototype EMA (mopro.md §6.2)', () => {
  it('matches per-sample sequential EMA then renormalises; zero rows stay zero', () => {
    const K = 3,
      d = 2,
      m = 0.9;
    const c = new Float32Array([1, 0, 0, 1, 0, 0]); // class 2 prototype is zero and unseen
    const emb = new Float32Array([0, 1, 0.6, 0.8, 1, 0]);
    const labels = [0, 0, 1];
    const out = updatePrototypes(c, K, d, emb, labels, m);
    // class 0: c = 0.9*(0.9*[1,0] + 0.1*[0,1]) + 0.1*[0.6,0.8] = [0.87, 0.17]; normalised
    const n0 = Math.hypot(0.87, 0.17);
    expect(out[0]).toBeCloseTo(0.87 / n0, 6);
    expect(out[1]).toBeCloseTo(0.17 / n0, 6);
    // class 1: 0.9*[0,1] + 0.1*[1,0] = [0.1, 0.9]
    const n1 = Math.hypot(0.1, 0.9);
    expect(out[2]).toBeCloseTo(0.1 / n1, 6);
    expect(out[3]).toBeCloseTo(0.9 / n1, 6);
    expect([out[4], out[5]]).toEqual([0, 0]);
    expect(Array.from(c)).toEqual([1, 0, 0, 1, 0, 0]); // input untouched
  });
  it('first sample of an empty class sets its direction exactly; masked samples are skipped', () => {
    const out = updatePrototypes(new Float32Array(4), 2, 2, new Float32Array([3, 4, 1, 0]), [1, 1], 0.999, [
      true,
      false,
    ]);
    expect(out[2]).toBeCloseTo(0.6, 6);
    expect(out[3]).toBeCloseTo(0.8, 6);
    expect([out[0], out[1]]).toEqual([0, 0]);
  });
  it('differs from the once-per-class mean update (the §6.2 pitfall)', () => {
    const emb = new Float32Array([1, 0, 1, 0, 1, 0, 1, 0]);
    const c0 = new Float32Array([0, 1]);
    const seq = updatePrototypes(c0, 1, 2, emb, [0, 0, 0, 0], 0.5);
    // sequential: 0.5^4 [0,1] + (1-0.5^4)[1,0] = [0.9375, 0.0625]
    const n = Math.hypot(0.9375, 0.0625);
    expect(seq[0]).toBeCloseTo(0.9375 / n, 6);
  });
  it('class-mean initialisation', () => {
    const out = classMeanPrototypes(new Float32Array([0, 1, 5, 5]), 2, 2, new Float32Array([2, 0, 0, 2]), [0, 0]);
    expect(out[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(out[1]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(out[2]).toBeCloseTo(Math.SQRT1_2, 6); // class 1 had no samples: previous row, renormalised
  });
});

describe('SGD with momentum and coupled weight decay (mopro.md §6.11)', () => {
  it('v = mu v + g + wd w; w -= lr v', () => {
    let st = { w: 1, v: 0 };
    st = sgdStepScalar(st.w, 0.5, st.v, 0.1, 0.9, 0.01); // v = 0.51, w = 0.949
    expect(st.v).toBeCloseTo(0.51, 10);
    expect(st.w).toBeCloseTo(0.949, 10);
    st = sgdStepScalar(st.w, 0.5, st.v, 0.1, 0.9, 0.01); // v = 0.459 + 0.5 + 0.00949 = 0.96849; w = 0.949 - 0.096849
    expect(st.v).toBeCloseTo(0.96849, 10);
    expect(st.w).toBeCloseTo(0.852151, 10);
  });
});

describe('schedule, queue, config', () => {
  it('cosine with linear warm-up', () => {
    const s = { kind: 'cosine' as const, base: 0.2, warmupEpochs: 1, epochs: 11 };
    expect(lrAt(s, 0.5)).toBeCloseTo(0.1, 3);
    expect(lrAt(s, 1)).toBeCloseTo(0.2, 6);
    expect(lrAt(s, 6)).toBeCloseTo(0.1, 6);
    expect(lrAt(s, 11)).toBeCloseTo(0, 6);
    expect(lrAt({ kind: 'step', base: 1, warmupEpochs: 0, epochs: 90, milestones: [40, 80] }, 85)).toBeCloseTo(0.01, 9);
  });
  it('queue: unit random columns, FIFO overwrite with wrap', () => {
    const q = new InstanceQueue(2, 4, new Rng(1));
    for (let j = 0; j < 4; j++) expect(Math.hypot(q.data[j], q.data[4 + j])).toBeCloseTo(1, 5);
    q.enqueue(new Float32Array([1, 2, 3, 4, 5, 6]), 3); // keys (1,2) (3,4) (5,6) -> columns 0,1,2
    expect([q.data[0], q.data[4], q.data[2], q.data[6]]).toEqual([1, 2, 5, 6]);
    q.enqueue(new Float32Array([7, 8, 9, 10]), 2); // columns 3, 0
    expect([q.data[3], q.data[7], q.data[0], q.data[4]]).toEqual([7, 8, 9, 10]);
    expect(q.ptr).toBe(1);
  });
  it('small-data defaults: queue a multiple of B below N/2, adaptations listed', () => {
    const { config, adaptations } = resolveConfig({
      method: 'mopro',
      backend: 'wasm',
      n: 10000,
      k: 10,
      channels: 1,
      nativeSize: 28,
    });
    expect(config.queueSize % config.batchSize).toBe(0);
    expect(config.queueSize).toBeLessThanOrEqual(5000);
    expect(config.imageSize).toBe(28);
    expect(config.cleanStartEpoch).toBeGreaterThanOrEqual(1);
    expect(config.cleanStartEpoch).toBeLessThan(config.epochs);
    expect(adaptations.some((a) => a.includes('queue'))).toBe(true);
  });
  it('ood score: far from every prototype ranks higher', () => {
    const protos = new Float32Array([1, 0, 0, 1]);
    const emb = new Float32Array([1, 0, -Math.SQRT1_2, -Math.SQRT1_2]);
    const q = new Float32Array([0.9, 0.1, 0.5, 0.5]);
    const s = oodScores('proto', { emb, protos, q, n: 2, K: 2, d: 2 });
    expect(s[0]).toBeCloseTo(0, 6);
    expect(s[1]).toBeGreaterThan(s[0]);
    expect(s[1]).toBeLessThanOrEqual(1);
  });
  it('ood score: an unknown formula name throws, naming the known ones (no silent fallback)', () => {
    const x = { emb: new Float32Array(2), protos: new Float32Array(2), q: new Float32Array(1), n: 1, K: 1, d: 2 };
    expect(() => oodScores('knn-lable', x)).toThrow(/unknown ood_score formula "knn-lable".*knn-label, proto, q/);
    expect(() => oodScores('constructor', x)).toThrow(/unknown ood_score formula/);
  });
});
