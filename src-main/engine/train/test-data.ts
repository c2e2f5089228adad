// Test data for trainer tests: n tiny grey s x s images of k classes, each class a brightness level plus a fixed
// pseudo-random texture, so a few steps can learn something and runs are reproducible.
import { resolveConfig, type EngineConfig } from './config';
import type { TrainData } from './trainer';

/** The engine config for syntheticTrainData(64, 8, 4) on wasm, 3 epochs, with L_pro from the start and cleaning
 *  from epoch 1, so every code path of the step (and every read-back block) runs within a few steps. */
export function smallTrainConfig(
  method: 'mopro' | 'ce',
  batchSize = 8,
  over: Partial<EngineConfig> = {},
): EngineConfig {
  const { config: c } = resolveConfig({
    method,
    backend: 'wasm',
    n: 64,
    k: 4,
    channels: 1,
    nativeSize: 8,
    batchSize,
    epochs: 3,
  });
  return { ...c, protoStartEpoch: 0, cleanStartEpoch: 1, ...over };
}

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
