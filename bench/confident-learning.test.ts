// Confident learning (the bench:suggestions peer) on hand-made probability matrices: every count below was
// worked out by hand from the paper's definitions.
import { describe, expect, it } from 'vitest';
import {
  calibrateJoint,
  confidentJoint,
  findLabelIssues,
  knnDistanceScores,
  perClassThresholds,
  pruneByNoiseRate,
  stratifiedFolds,
} from './confident-learning';

// 6 examples, 2 classes. Given labels: 0,0,0,1,1,1. Rows 2 and 5 look like the other class.
const P = Float64Array.from([
  0.9,
  0.1,
  0.8,
  0.2,
  0.25,
  0.75, // labelled 0, looks like 1
  0.2,
  0.8,
  0.1,
  0.9,
  0.6,
  0.4, // labelled 1, looks like 0
]);
const Y = [0, 0, 0, 1, 1, 1];
const pm = { p: P, n: 6, K: 2 };

describe('confident learning', () => {
  it('per-class thresholds are the mean self-confidence of each given label', () => {
    const t = perClassThresholds(pm, Y);
    expect(t[0]).toBeCloseTo((0.9 + 0.8 + 0.25) / 3, 12); // 0.65
    expect(t[1]).toBeCloseTo((0.8 + 0.9 + 0.4) / 3, 12); // 0.7
  });

  it('confident joint counts each example under the most probable class at or above its threshold', () => {
    const t = perClassThresholds(pm, Y);
    const { C, column } = confidentJoint(pm, Y, t);
    // row 0: 0.9>=.65 -> 0; row 1: 0.8 -> 0; row 2: p1 0.75>=0.7 -> 1; row 3: 0.8 -> 1; row 4: 0.9 -> 1;
    // row 5: p0 0.6 < .65, p1 0.4 < .7 -> not counted
    expect(Array.from(column)).toEqual([0, 0, 1, 1, 1, -1]);
    expect(Array.from(C)).toEqual([2, 1, 0, 2]);
  });

  it('calibration makes each row sum to its given-label count', () => {
    // row 0 has 2+1 confident counts for 3 examples; row 1 has 2 counts for 3 examples
    const cal = calibrateJoint([2, 1, 0, 2], 2, Y);
    expect(cal[0]).toBeCloseTo(2, 12);
    expect(cal[1]).toBeCloseTo(1, 12);
    expect(cal[2]).toBeCloseTo(0, 12);
    expect(cal[3]).toBeCloseTo(3, 12);
    // an empty row stays zero instead of dividing by zero
    expect(Array.from(calibrateJoint([0, 0, 1, 1], 2, [0, 1]))).toEqual([0, 0, 0.5, 0.5]);
  });

  it('prune by noise rate removes the largest-margin examples of each off-diagonal cell', () => {
    // cell (0,1) calibrated 1 -> remove the one label-0 example with the largest p1 - p0: row 2 (0.5)
    // cell (1,0) calibrated 0 -> nothing, although row 5 looks suspicious (no confident evidence)
    const flagged = pruneByNoiseRate(pm, Y, [2, 1, 0, 3]);
    expect(Array.from(flagged)).toEqual([0, 0, 1, 0, 0, 0]);
    // with 2 to remove from cell (1,0): margins p0 - p1 of rows 3,4,5 are -0.6, -0.8, 0.2 -> rows 5 and 3
    expect(Array.from(pruneByNoiseRate(pm, Y, [3, 0, 2, 1]))).toEqual([0, 0, 0, 1, 0, 1]);
  });

  it('findLabelIssues flags the mislabelled example and suggests the argmax class with its probability', () => {
    const r = findLabelIssues(pm, Y);
    expect(Array.from(r.flagged)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(Array.from(r.suggestion)).toEqual([0, 0, 1, 1, 1, 0]);
    expect(r.confidence[2]).toBeCloseTo(0.75, 6);
  });

  it('a clean, confident matrix has no label issues; an all-swapped one flags every example', () => {
    const clean = findLabelIssues(
      { p: Float64Array.from([0.95, 0.05, 0.9, 0.1, 0.1, 0.9, 0.05, 0.95]), n: 4, K: 2 },
      [0, 0, 1, 1],
    );
    expect(Array.from(clean.flagged)).toEqual([0, 0, 0, 0]);
    // 3 classes, every given label rotated by one: the true class is always the confident one
    const p = Float64Array.from([
      0.05, 0.9, 0.05, 0.1, 0.8, 0.1, 0.05, 0.05, 0.9, 0.1, 0.1, 0.8, 0.9, 0.05, 0.05, 0.8, 0.1, 0.1,
    ]);
    const r = findLabelIssues({ p, n: 6, K: 3 }, [0, 0, 1, 1, 2, 2]);
    expect(Array.from(r.flagged)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(r.suggestion)).toEqual([1, 1, 2, 2, 0, 0]);
  });

  it('rejects a matrix whose shape does not fit the labels', () => {
    expect(() => perClassThresholds({ p: new Float64Array(5), n: 3, K: 2 }, [0, 1, 0])).toThrow(/expected 3 x 2/);
    expect(() => perClassThresholds(pm, [0, 0, 0, 1, 1, 2])).toThrow(/outside 0..1/);
  });
});

describe('kNN distance OOD score', () => {
  it('is the mean cosine distance to the k nearest other rows', () => {
    // three points along the x-axis direction (cos 1 with each other), one orthogonal outlier
    const f = Float32Array.from([1, 0, 2, 0, 3, 0.0, 0, 1]);
    const s = knnDistanceScores(f, 4, 2, 2);
    expect(s[0]).toBeCloseTo(0, 6); // two identical directions
    expect(s[3]).toBeCloseTo(1, 6); // cos 0 with everything
    // k=3 includes the outlier for the inliers: (0 + 0 + 1) / 3
    expect(knnDistanceScores(f, 4, 2, 3)[1]).toBeCloseTo(1 / 3, 6);
  });

  it('ranks an outlier cluster above the inliers', () => {
    const n = 40,
      dim = 3,
      f = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const out = i >= 36;
      f[i * dim] = out ? 0.1 : 1;
      f[i * dim + 1] = out ? 1 : 0.05 * (i % 5);
      f[i * dim + 2] = out ? 0.1 * (i % 3) : 0.02 * (i % 7);
    }
    const s = knnDistanceScores(f, n, dim, 5);
    const minOut = Math.min(...s.slice(36)),
      maxIn = Math.max(...s.slice(0, 36));
    expect(minOut).toBeGreaterThan(maxIn);
  });
});

describe('stratified folds', () => {
  it('spreads every class evenly over the folds and is seeded', () => {
    const labels = Array.from({ length: 103 }, (_, i) => i % 4);
    const f = stratifiedFolds(labels, 5, 1);
    for (let k = 0; k < 4; k++) {
      const counts = [0, 0, 0, 0, 0];
      labels.forEach((y, i) => {
        if (y === k) counts[f[i]]++;
      });
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    expect(Array.from(stratifiedFolds(labels, 5, 1))).toEqual(Array.from(f));
    expect(Array.from(stratifiedFolds(labels, 5, 2))).not.toEqual(Array.from(f));
  });
});
