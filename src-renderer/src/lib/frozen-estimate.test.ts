import { describe, expect, it } from 'vitest';
import { frozenFeatureSeconds, roughDuration } from './frozen-estimate';

describe('frozen-feature time estimate', () => {
  it('scales with images, views and pixels; unknown archs give null', () => {
    expect(frozenFeatureSeconds('resnet18', 650, 224)).toBeCloseTo(200, 6); // 1300 forwards at 6.5/s
    expect(frozenFeatureSeconds('resnet18', 650, 112)).toBeCloseTo(50, 6);
    expect(frozenFeatureSeconds('resnet50', 14, 224)).toBeCloseTo(10, 6);
    expect(frozenFeatureSeconds('densenet121', 100, 224)).toBeNull();
    expect(frozenFeatureSeconds('resnet18', 0, 112)).toBeNull();
  });
  it('rounds for display', () => {
    expect(roughDuration(0.2)).toBe('about 1 s');
    expect(roughDuration(45)).toBe('about 45 s');
    expect(roughDuration(600)).toBe('about 10 min');
    expect(roughDuration(9000)).toBe('about 2.5 h');
  });
});
