// The "best" status rule on hand-made score distributions: a bimodal ood_score (OOD images present), one
// population (no OOD at all), every label wrong (all noise), disagreeing evidence, and a weak model.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src-shared/rng';
import {
  applyStatusRule,
  bestStatuses,
  fitTwoGaussians,
  judgeStrength,
  oodThreshold,
  topShareThreshold,
  WEAK_OOD_SHARE,
  type StatusRuleInput,
} from './status-rule';

const clip = (x: number) => Math.min(0.9, Math.max(0, x));
function draw(rng: Rng, n: number, mu: number, sd: number): number[] {
  return Array.from({ length: n }, () => clip(mu + sd * rng.normal()));
}

/** n rows, K classes; every row's p, s and neighbour shares put `strength` on class `to[i]`, the rest spread evenly. */
function rows(given: number[], to: number[], K: number, strength: number, ood: number[]): StatusRuleInput {
  const n = given.length,
    one = () => new Float32Array(n * K);
  const p = one(),
    s = one(),
    q = one(),
    nbr = one();
  for (let i = 0; i < n; i++)
    for (let k = 0; k < K; k++) {
      const v = k === to[i] ? strength : (1 - strength) / (K - 1);
      p[i * K + k] = v;
      s[i * K + k] = v;
      q[i * K + k] = v;
      nbr[i * K + k] = v;
    }
  return { p, s, q, nbr, ood: Float32Array.from(ood), given, K };
}
const facts = { method: 'mopro' as const, epochsDone: 20, cleanStartEpoch: 8 };
const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('OOD threshold from the score distribution', () => {
  it('bimodal: the threshold falls between the modes and flags the OOD mode', () => {
    const rng = new Rng(1);
    const id = draw(rng, 1800, 0.3, 0.1),
      od = draw(rng, 200, 0.8, 0.04);
    const t = oodThreshold([...id, ...od]);
    expect(t.method).toBe('mixture');
    expect(t.threshold).toBeGreaterThan(0.5);
    expect(t.threshold).toBeLessThan(0.75);
    const idFlagged = id.filter((x) => x > t.threshold).length / id.length,
      oodCaught = od.filter((x) => x > t.threshold).length / od.length;
    expect(idFlagged).toBeLessThan(0.03);
    expect(oodCaught).toBeGreaterThan(0.9);
    const m = fitTwoGaussians([...id, ...od]);
    expect(m.mu[1]).toBeCloseTo(0.8, 1);
    expect(m.w[1]).toBeCloseTo(0.1, 1);
  });

  it('no OOD at all (one population): almost nothing is flagged', () => {
    for (const seed of [2, 3, 4]) {
      const rng = new Rng(seed);
      const id = draw(rng, 2000, 0.4, 0.1);
      const t = oodThreshold(id);
      const flagged = id.filter((x) => x > t.threshold).length;
      expect(flagged / id.length).toBeLessThan(0.01);
    }
  });

  it('a skewed single population (long right tail) is not split into two', () => {
    const rng = new Rng(5);
    const id = Array.from({ length: 2000 }, () => clip(0.2 + 0.1 * Math.abs(rng.normal()) ** 1.5));
    const t = oodThreshold(id);
    expect(id.filter((x) => x > t.threshold).length / id.length).toBeLessThan(0.02);
  });

  it('topShareThreshold keeps exactly the top share', () => {
    const v = Array.from({ length: 100 }, (_, i) => i / 100);
    const t = topShareThreshold(v, 0.05);
    expect(v.filter((x) => x > t).length).toBe(5);
    expect(v.filter((x) => x > topShareThreshold(v, 0.001)).length).toBe(1);
  });
});

describe('statuses', () => {
  it('all noise: every label wrong, the evidence agrees on the true class -> all relabeled, none ood', () => {
    const K = 5,
      n = 200,
      rng = new Rng(6);
    const truth = Array.from({ length: n }, (_, i) => i % K),
      given = truth.map((t) => (t + 1 + rng.int(K - 1)) % K);
    const inp = rows(given, truth, K, 0.9, draw(rng, n, 0.5, 0.08));
    const { out, info } = bestStatuses(inp, all(n), facts);
    expect(info.trusted).toBe(true);
    expect(out.status.filter((s) => s === 'ood').length).toBeLessThanOrEqual(2);
    const rel = out.status.map((s, i) => (s === 'relabeled' ? i : -1)).filter((i) => i >= 0);
    expect(rel.length).toBeGreaterThanOrEqual(n - 2);
    for (const i of rel) {
      expect(out.label[i]).toBe(truth[i]);
      expect(out.confidence[i]).toBeCloseTo(0.9, 5);
    }
  });

  it('relabels where the model and the neighbours together put another class ahead by the margin', () => {
    const K = 3;
    const inp = rows([0, 0, 0, 0, 0], [1, 1, 1, 1, 1], K, 0.8, [0.1, 0.1, 0.1, 0.1, 0.1]);
    inp.nbr.set([0.8, 0.1, 0.1], 3); //                      row 1: neighbours keep the given class -> e ties
    inp.nbr.set([0.1, 0.1, 0.8], 6); //                      row 2: neighbours name a third class, q names 1
    inp.q.set([0.5, 0.4, 0.1], 9); //                        row 3: neighbours say 1, the model still prefers 0
    inp.nbr.set([0, 1, 0], 9);
    inp.q.set([0.3, 0.5, 0.2], 12); //                       row 4: e = (0.3, 0.5, 0.2): ahead by 0.2 only
    inp.nbr.set([0.3, 0.5, 0.2], 12);
    const out = applyStatusRule(inp, 0.5);
    expect(out.status).toEqual(['relabeled', 'clean', 'relabeled', 'clean', 'clean']);
    expect(out.label[0]).toBe(1);
    expect(out.label[2]).toBe(1);
    // confidence is q of the label the status shows
    expect(out.confidence[0]).toBeCloseTo(0.8, 5);
    expect(out.confidence[1]).toBeCloseTo(inp.q[3], 5);
    expect(out.confidence[3]).toBeCloseTo(0.5, 5);
    // a wider margin keeps row 0 only; margin Infinity relabels nothing
    expect(applyStatusRule(inp, 0.5, { margin: 0.6 }).status).toEqual([
      'relabeled',
      'clean',
      'clean',
      'clean',
      'clean',
    ]);
    expect(applyStatusRule(inp, 0.5, { margin: Infinity }).status.includes('relabeled')).toBe(false);
  });

  it('a row without neighbours is judged on q alone', () => {
    const K = 3;
    const inp = rows([0, 0], [1, 1], K, 0.8, [0.1, 0.1]);
    inp.nbr.fill(0);
    inp.q.set([0.4, 0.6, 0], 3); // 0.2 ahead: below the margin
    expect(applyStatusRule(inp, 0.5).status).toEqual(['relabeled', 'clean']);
  });

  it('ood rows carry q of the given label; human-confirmed rows are never relabeled or ood', () => {
    const K = 3;
    const inp = { ...rows([0, 2], [1, 1], K, 0.9, [0.95, 0.95]), fixed: [false, true] };
    const out = applyStatusRule(inp, 0.5);
    expect(out.status).toEqual(['ood', 'clean']);
    expect(out.confidence[0]).toBeCloseTo(0.05, 5);
    expect(out.label[1]).toBe(2);
  });

  it('a weak model flags only the top scores and relabels nothing', () => {
    const K = 10,
      n = 1000,
      rng = new Rng(7);
    const given = Array.from({ length: n }, () => rng.int(K)),
      to = given.map((g) => (g + 1) % K);
    const inp = rows(given, to, K, 0.13, [...draw(rng, 900, 0.4, 0.1), ...draw(rng, 100, 0.85, 0.02)]);
    const { out, info } = bestStatuses(inp, all(n), facts);
    expect(info.trusted).toBe(false);
    expect(info.advice).toMatch(/train longer/);
    expect(out.status.filter((s) => s === 'relabeled').length).toBe(0);
    expect(out.status.filter((s) => s === 'ood').length).toBe(WEAK_OOD_SHARE * n);
  });

  it('the verdict: cleaning never ran, or classifier and prototypes disagree -> not trusted', () => {
    const strong = { agreePS: 0.95, meanMaxP: 0.8 };
    expect(judgeStrength(strong, facts).trusted).toBe(true);
    expect(judgeStrength(strong, { ...facts, epochsDone: 8 }).reason).toMatch(/cleaning never ran/);
    expect(judgeStrength(strong, { ...facts, method: 'ce', epochsDone: 3 }).trusted).toBe(true);
    expect(judgeStrength({ agreePS: 0.3, meanMaxP: 0.8 }, facts).trusted).toBe(false);
    expect(judgeStrength({ agreePS: 0.95, meanMaxP: 0.15 }, facts).trusted).toBe(false);
  });
});

describe('random-label threshold', () => {
  it('flags neighbourhoods whose labels are as mixed as random ones, not noisy-but-informative ones', async () => {
    const { randomLabelThreshold, normalisedEntropy } = await import('./status-rule');
    const K = 10,
      k = 30,
      rng = new Rng(11);
    const weights = new Float32Array(400 * k).fill(1);
    const shares = new Float32Array(400 * K);
    // rows 0..359: in-distribution with 40% symmetric noise among the neighbours; 360..399: random labels
    for (let i = 0; i < 400; i++) {
      const y = i % K;
      for (let j = 0; j < k; j++) {
        const lab = i < 360 ? (rng.next() < 0.6 ? y : rng.int(K)) : rng.int(K);
        shares[i * K + lab] += 1 / k;
      }
    }
    const ent = normalisedEntropy(shares, K);
    const thr = randomLabelThreshold(weights, k, new Array(K).fill(1), 0.05);
    const idFlagged = Array.from(ent.subarray(0, 360)).filter((e) => e > thr).length;
    const oodFlagged = Array.from(ent.subarray(360)).filter((e) => e > thr).length;
    expect(idFlagged).toBeLessThanOrEqual(4);
    expect(oodFlagged).toBeGreaterThanOrEqual(32);
  });

  it('bestStatuses uses it when neighbours are given, and caps an unseparated score at the top few', () => {
    const K = 4,
      n = 100,
      k = 10;
    const given = Array.from({ length: n }, (_, i) => i % K);
    const inp = rows(
      given,
      given,
      K,
      0.9,
      Array.from({ length: n }, () => 0.99),
    ); // every row looks random
    const { out, info } = bestStatuses(inp, all(n), facts, {
      weights: new Float32Array(n * k).fill(1),
      k,
      marginal: [1, 1, 1, 1],
    });
    expect(info.oodRule).toMatch(/does not separate/);
    expect(out.status.filter((s) => s === 'ood').length).toBeLessThanOrEqual(Math.max(1, WEAK_OOD_SHARE * n));
  });
});
