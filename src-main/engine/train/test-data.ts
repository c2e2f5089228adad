// Test data for trainer tests: n tiny grey s x s images of k classes, each class a brightness level plus a fixed
// pseudo-random texture, so a few steps can learn something and runs are reproducible.
import type { TrainData } from './trainer';

/** `isFixed(i)`: rows a person confirmed (their labels are never relabelled); none by default. */
export function syntheticTrainData(
  n: number,
  s: number,
  k: number,
  isFixed: (i: number) => boolean = () => false,
): TrainData {
  const pixels = new Uint8Array(n * s * s);
  for (let i = 0; i < n; i++)
    for (let t = 0; t < s * s; t++) pixels[i * s * s + t] = ((i % k) * 25 + ((t * 7919 + i * 31) % 60)) & 255;
  return {
    pixels,
    n,
    h: s,
    w: s,
    c: 1,
    labels: Int32Array.from({ length: n }, (_, i) => i % k),
    fixed: Uint8Array.from({ length: n }, (_, i) => (isFixed(i) ? 1 : 0)),
    trainIdx: Int32Array.from({ length: n }, (_, i) => i),
    numClasses: k,
  };
}
