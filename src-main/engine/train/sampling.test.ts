// Class-balanced sampling (seed 002): draw frequencies, determinism, the uniform path unchanged, and the
// trainer's use of it; human-fixed labels seeding their class prototypes at the start of cleaning.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config';
import { normaliseRows } from '../mopro/prototypes';
import { Rng } from '../../../src-shared/rng';
import { balancedWeights, classCounts, epochOrder, samplingSummary, weightedDraw } from './sampling';
import { Trainer, type TrainData } from './trainer';
import { EMBED_DIM } from '../nets/model';
import { contractStatus } from '../eval/final-pass';
import { useBackend } from '../backends/test-backends';

// 3 classes with 600 / 300 / 100 images
const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
const rows = Int32Array.from({ length: 1000 }, (_, i) => i);

describe('class-balanced sampling', () => {
  it('weights are N / N_class and sum to N per class', () => {
    const w = balancedWeights(rows, labels, 3);
    expect(w[0]).toBeCloseTo(1000 / 600, 12);
    expect(w[700]).toBeCloseTo(1000 / 300, 12);
    expect(w[950]).toBeCloseTo(1000 / 100, 12);
    for (const k of [0, 1, 2])
      expect(
        Array.from(w)
          .filter((_, i) => labels[i] === k)
          .reduce((a, b) => a + b, 0),
      ).toBeCloseTo(1000, 6);
  });

  it('over many draws every class is drawn 1/K of the time (within 1.5 points) and images of a class equally often', () => {
    const rng = new Rng(5);
    const counts = [0, 0, 0],
      perImage = new Float64Array(1000);
    for (let e = 0; e < 60; e++) {
      const order = epochOrder('balanced', rows, labels, 3, rng);
      expect(order.length).toBe(1000);
      for (const i of order) {
        counts[labels[i]]++;
        perImage[i]++;
      }
    }
    const total = 60_000;
    for (const c of counts) expect(Math.abs(c / total - 1 / 3)).toBeLessThan(0.015);
    // the 100 minority images are each drawn ~200 times, the 600 majority ones ~33 times
    const mean = (a: number, b: number) => perImage.slice(a, b).reduce((x, y) => x + y, 0) / (b - a);
    expect(mean(900, 1000)).toBeGreaterThan(180);
    expect(mean(900, 1000)).toBeLessThan(220);
    expect(mean(0, 600)).toBeGreaterThan(30);
    expect(mean(0, 600)).toBeLessThan(37);
  });

  it('weightedDraw follows arbitrary weights and is deterministic per seed', () => {
    const w = Float64Array.from([1, 0, 3]),
      r = Int32Array.from([10, 11, 12]);
    const a = weightedDraw(r, w, 20_000, new Rng(1)),
      b = weightedDraw(r, w, 20_000, new Rng(1));
    expect(Array.from(a)).toEqual(Array.from(b));
    const n12 = Array.from(a).filter((x) => x === 12).length;
    expect(Array.from(a).includes(11)).toBe(false);
    expect(Math.abs(n12 / 20_000 - 0.75)).toBeLessThan(0.015);
    expect(() => weightedDraw(r, new Float64Array(3), 1, new Rng(1))).toThrow(/zero/);
  });

  it('uniform is a permutation of the rows (the order the trainer always used)', () => {
    const o = epochOrder('uniform', rows, labels, 3, new Rng(9));
    const p = new Rng(9).permutation(1000);
    expect(Array.from(o)).toEqual(Array.from(p, (j) => rows[j]));
    expect(classCounts(o, labels, 3)).toEqual([600, 300, 100]);
  });

  it('summary: counts before, expected draws after; a class with no images gets none', () => {
    const s = samplingSummary('balanced', rows, labels, ['a', 'b', 'c', 'empty']);
    expect(s.before).toEqual([600, 300, 100, 0]);
    expect(s.expectedPerEpoch).toEqual([333.3, 333.3, 333.3, 0]);
    expect(samplingSummary('uniform', rows, labels, ['a', 'b', 'c']).expectedPerEpoch).toEqual([600, 300, 100]);
  });
});

function synthetic(n: number, s: number, k: number, imbalanced = false): TrainData {
  const lab = Int32Array.from({ length: n }, (_, i) => (imbalanced ? (i < n * 0.7 ? 0 : 1 + (i % (k - 1))) : i % k));
  const pixels = new Uint8Array(n * s * s);
  for (let i = 0; i < n; i++)
    for (let t = 0; t < s * s; t++) pixels[i * s * s + t] = (lab[i] * 40 + ((t * 7919 + i * 31) % 60)) & 255;
  return {
    pixels,
    n,
    h: s,
    w: s,
    c: 1,
    labels: lab,
    fixed: new Uint8Array(n),
    trainIdx: Int32Array.from({ length: n }, (_, i) => i),
    numClasses: k,
  };
}

describe('trainer with balanced sampling and fixed labels (wasm)', () => {
  it('balanced epochs draw the minority classes about as often as the majority', async () => {
    await useBackend('wasm');
    const { config } = resolveConfig({
      method: 'ce',
      backend: 'wasm',
      n: 400,
      k: 4,
      channels: 1,
      nativeSize: 8,
      batchSize: 8,
      epochs: 2,
    });
    const data = synthetic(400, 8, 4, true);
    const t = new Trainer({ ...config, sampling: 'balanced' }, data, { mean: [0.3], std: [0.2] });
    const d = t.epochDraws();
    expect(classCounts(data.trainIdx, data.labels, 4)[0]).toBe(280);
    for (const c of d) expect(c).toBeGreaterThan(60);
    for (const c of d) expect(c).toBeLessThan(140);
    t.dispose();
  });

  it('at the start of cleaning a class with human-fixed images gets the mean of those images as its prototype', async () => {
    await useBackend('wasm');
    const { config } = resolveConfig({
      method: 'mopro',
      backend: 'wasm',
      n: 64,
      k: 4,
      channels: 1,
      nativeSize: 8,
      batchSize: 8,
      epochs: 3,
    });
    const data = synthetic(64, 8, 4);
    for (const i of [0, 4, 8, 12]) data.fixed[i] = 1; // four confirmed images of class 0 only
    const t = new Trainer({ ...config, protoStartEpoch: 0, cleanStartEpoch: 1 }, data, { mean: [0.3], std: [0.2] });
    while (!(t.state.epoch === 1 && t.state.step === 0)) await t.step();
    const s = t.state.classSum!,
      d = EMBED_DIM,
      half = 4 * (d + 1);
    expect(s.length).toBe(2 * half);
    expect(s[half + 0 * (d + 1) + d]).toBe(4); // the fixed images of class 0 were summed on their own
    expect(s[half + 1 * (d + 1) + d]).toBe(0);
    const mean = (o: number) =>
      normaliseRows(
        Float32Array.from({ length: d }, (_, j) => s[o + j] / s[o + d]),
        1,
        d,
      );
    const fixedMean = mean(half),
      allMean1 = mean(1 * (d + 1)),
      allMean0 = mean(0);
    t.beginEpoch();
    const proto = (k: number) => t.protos.subarray(k * d, (k + 1) * d);
    for (let j = 0; j < d; j++) expect(proto(0)[j]).toBeCloseTo(fixedMean[j], 5);
    for (let j = 0; j < d; j++) expect(proto(1)[j]).toBeCloseTo(allMean1[j], 5);
    // and the fixed-only seed differs from the all-images mean it replaces (the test can tell them apart)
    expect(Math.max(...Array.from(fixedMean, (v, j) => Math.abs(v - allMean0[j])))).toBeGreaterThan(1e-3);
    t.dispose();

    // fixedProtoWeight w: the fixed images count w times in the class mean (w = 1: the plain class mean)
    for (const w of [1, 3]) {
      const u = new Trainer({ ...config, protoStartEpoch: 0, cleanStartEpoch: 1, fixedProtoWeight: w }, data, {
        mean: [0.3],
        std: [0.2],
      });
      while (!(u.state.epoch === 1 && u.state.step === 0)) await u.step();
      const cs = u.state.classSum!;
      const want = normaliseRows(
        Float32Array.from({ length: d }, (_, j) => (cs[j] + (w - 1) * cs[half + j]) / (cs[d] + (w - 1) * cs[half + d])),
        1,
        d,
      );
      u.beginEpoch();
      for (let j = 0; j < d; j++) expect(u.protos[j]).toBeCloseTo(want[j], 5);
      u.dispose();
    }
  });
});

describe('samples.csv status contract (design.md §3)', () => {
  it('relabeled exactly when the corrected label differs from the folder label, whatever the rule said', () => {
    expect(contractStatus('clean', 'Coat', 'Shirt')).toBe('relabeled'); // a human-confirmed correction
    expect(contractStatus('clean', 'Coat', 'Coat')).toBe('clean');
    expect(contractStatus('relabeled', 'Coat', 'Shirt')).toBe('relabeled');
    expect(contractStatus('ood', 'Coat', '')).toBe('ood');
  });
});
