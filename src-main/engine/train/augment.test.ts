// A data-parallel replica augments only its rows: the same views, bit for bit, as augmenting the whole batch and
// slicing, and the same random stream afterwards (so the next batch and the next epoch's order agree everywhere).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src-shared/rng';
import { useBackend } from '../backends/test-backends';
import { COLOR_JITTER, GRAY_PROB, strongAugment, weakAugment, type BatchRows } from './augment';

type Aug = (x: tf.Tensor4D, rng: Rng, part?: BatchRows) => tf.Tensor4D;
const AUGS: [string, Aug][] = [
  ['weak', (x, rng, part) => weakAugment(x, rng, 0.5, part)],
  ['strong', (x, rng, part) => strongAugment(x, rng, 0.2, COLOR_JITTER, GRAY_PROB, part)],
];

describe.each([1, 3])('augmenting rows [lo, hi) of a batch, %i channel(s)', (C) => {
  it.each(AUGS)('%s: the whole batch sliced, the same random stream after; no tensor leak', async (_n, aug) => {
    await useBackend('wasm');
    const B = 7;
    const x = tf.randomUniform([B, 12, 12, C], 0, 1, 'float32', 5) as tf.Tensor4D;
    const rAll = new Rng(9);
    const all = aug(x, rAll).dataSync();
    const per = 12 * 12 * C;
    for (const [lo, hi] of [
      [0, 3],
      [3, 7],
      [2, 3],
    ]) {
      const before = tf.memory().numTensors;
      const rPart = new Rng(9);
      const rows = tf.slice(x, lo, hi - lo) as tf.Tensor4D;
      const got = aug(rows, rPart, { lo, total: B });
      expect(Array.from(got.dataSync())).toEqual(Array.from(all.subarray(lo * per, hi * per)));
      expect(rPart.state).toBe(rAll.state);
      tf.dispose([rows, got]);
      expect(tf.memory().numTensors).toBe(before);
    }
    x.dispose();
  });
});
