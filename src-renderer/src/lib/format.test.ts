import { describe, expect, it } from 'vitest';
import { formatEta, runFraction } from './format';
import { linePath, seriesMax } from './chart';

describe('format', () => {
  it('formats ETAs', () => {
    expect(formatEta(null)).toBe('—');
    expect(formatEta(-1)).toBe('—');
    expect(formatEta(42.4)).toBe('42 s');
    expect(formatEta(125)).toBe('2 min 05 s');
    expect(formatEta(3 * 3600 + 7 * 60)).toBe('3 h 07 min');
  });
  it('computes the run fraction from epoch and step', () => {
    expect(runFraction(null)).toBe(0);
    expect(runFraction({ epoch: 1, epochs: 4, step: 5, steps: 10 })).toBeCloseTo(0.375);
    expect(runFraction({ epoch: 4, epochs: 4, step: 10, steps: 10 })).toBe(1);
  });
});

describe('chart', () => {
  it('scales a series into the plot box', () => {
    const box = { width: 110, height: 60, pad: 5 };
    expect(linePath([0, 2, 1], 2, box)).toBe('M5.0,55.0 L55.0,5.0 L105.0,30.0');
    expect(linePath([], 1, box)).toBe('');
    expect(
      seriesMax([
        { name: 'a', values: [1, NaN, 3] },
        { name: 'b', values: [2] },
      ]),
    ).toBe(3);
  });
});
