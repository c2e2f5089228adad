// Expected calibration error (Guo et al. 2017) on hand-computed cases.
import { describe, expect, it } from 'vitest';
import { binOf, calibration } from './calibration';

const f32 = (a: number[]) => Float32Array.from(a);
const u8 = (a: number[]) => Uint8Array.from(a);
const rep = <T>(v: T, n: number) => Array<T>(n).fill(v);

describe('calibration', () => {
  it('all confidences 0.9 with 90% correct: ECE 0', () => {
    const c = calibration(f32(rep(0.9, 10)), u8([...rep(1, 9), 0]));
    expect(c.ece).toBeCloseTo(0, 6);
    expect(c.mce).toBeCloseTo(0, 6);
    expect(c.accuracy).toBeCloseTo(0.9, 12);
    expect(c.n).toBe(10);
    expect(c.bins).toHaveLength(15);
    expect(c.bins[13]).toMatchObject({ count: 10 }); // (13/15, 14/15] = (0.867, 0.933]
    expect(c.bins[13].accuracy).toBeCloseTo(0.9, 12);
  });

  it('confidence 1.0 and all wrong: ECE = MCE = 1, in the last bin', () => {
    const c = calibration(f32(rep(1, 4)), u8(rep(0, 4)));
    expect(c.ece).toBe(1);
    expect(c.mce).toBe(1);
    expect(c.accuracy).toBe(0);
    expect(c.bins[14].count).toBe(4);
  });

  it('two bins by hand: 4 at 0.95 (3 right), 6 at 0.5 (all right) -> 0.4 * 0.2 + 0.6 * 0.5 = 0.38', () => {
    const c = calibration(f32([...rep(0.95, 4), ...rep(0.5, 6)]), u8([1, 1, 1, 0, ...rep(1, 6)]));
    expect(c.ece).toBeCloseTo(0.38, 6);
    expect(c.mce).toBeCloseTo(0.5, 6);
    expect(c.accuracy).toBeCloseTo(0.9, 12);
    expect(c.bins[14]).toMatchObject({ count: 4, accuracy: 0.75 });
    expect(c.bins[7]).toMatchObject({ count: 6, accuracy: 1 }); // 0.5 in (7/15, 8/15]
    expect(c.bins[7].confidence).toBeCloseTo(0.5, 12);
    expect(c.bins.reduce((s, b) => s + b.count, 0)).toBe(10);
    // empty bins weigh nothing and report 0
    expect(c.bins[0]).toMatchObject({ count: 0, accuracy: 0, confidence: 0 });
    expect(c.bins[0].lo).toBe(0);
    expect(c.bins[14].hi).toBe(1);
  });

  it('bins are (lo, hi]: 0.5 with 2 bins is in the first, 0 in the first, 1 in the last', () => {
    expect(binOf(0.5, 2)).toBe(0);
    expect(binOf(0.5000001, 2)).toBe(1);
    expect(binOf(0, 15)).toBe(0);
    expect(binOf(1, 15)).toBe(14);
    const c = calibration(f32([0, 0.25, 0.5, 0.75, 1]), u8([0, 0, 1, 1, 1]), 2);
    // bin 0: {0, .25, .5} acc 1/3 conf .25 -> gap 1/12; bin 1: {.75, 1} acc 1 conf .875 -> gap .125
    expect(c.bins.map((b) => b.count)).toEqual([3, 2]);
    expect(c.ece).toBeCloseTo((3 / 5) * (1 / 12) + (2 / 5) * 0.125, 12);
    expect(c.mce).toBeCloseTo(0.125, 12);
  });

  it('empty input and bad input', () => {
    expect(calibration(f32([]), u8([]))).toMatchObject({ ece: 0, mce: 0, n: 0, accuracy: 0 });
    expect(() => calibration(f32([0.5]), u8([]))).toThrow(/1 confidences but 0/);
    expect(() => calibration(f32([1.5]), u8([1]))).toThrow(/outside/);
    expect(() => calibration(f32([NaN]), u8([1]))).toThrow(/outside/);
    expect(() => calibration(f32([0.5]), u8([1]), 0)).toThrow(/bins/);
  });
});
