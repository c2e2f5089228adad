// The training step's tensor cleaning rule (clean-rule-tensor.ts) makes the decisions of the JS rule
// (noise-cleaning.ts cleanRule) on every backend, and passes no gradient into the logits.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { cleanRuleTensor } from './clean-rule-tensor';
import { cleanRule, softmaxRows } from './noise-cleaning';
import { rng } from '../../../tests/fixtures/project';
import { NUMERIC_BACKENDS, unavailable, useBackend } from '../backends/test-backends';

describe.each(NUMERIC_BACKENDS)('tensor cleaning rule on %s', (_label, backend) => {
  it.skipIf(unavailable(backend))(
    'same labels and mask as cleanRule (random batches, fixed rows, all three outcomes)',
    async () => {
      await useBackend(backend);
      const r = rng(5),
        B = 64,
        K = 5,
        alpha = 0.5,
        T = 0.6;
      const logits = Float32Array.from({ length: B * K }, () => (r() - 0.5) * 8);
      const plog = Float32Array.from({ length: B * K }, () => (r() - 0.5) * 12);
      const given = Int32Array.from({ length: B }, () => Math.floor(r() * K));
      const fixed = Array.from({ length: B }, (_, i) => i % 9 === 0);
      const want = cleanRule(softmaxRows(logits, B, K), softmaxRows(plog, B, K), given, K, alpha, T, fixed);
      expect(new Set(want.status)).toEqual(new Set(['clean', 'relabeled', 'ood'])); // the batch exercises every branch
      const before = tf.memory().numTensors;
      const t = tf.tidy(() =>
        cleanRuleTensor(
          tf.tensor2d(logits, [B, K]),
          tf.tensor2d(plog, [B, K]),
          tf.tensor1d(given, 'int32'),
          tf.tensor1d(fixed.map((f) => (f ? 1 : 0))),
          K,
          alpha,
          T,
        ),
      );
      const got = await t.data();
      t.dispose();
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from({ length: B }, (_, i) => got[2 * i])).toEqual(Array.from(want.label));
      expect(Array.from({ length: B }, (_, i) => got[2 * i + 1] === 1)).toEqual(want.clean);
    },
    120_000,
  );

  it.skipIf(unavailable(backend))(
    'its gradient into the logits is zero (the decision is a constant for the loss)',
    async () => {
      await useBackend(backend);
      const lg = tf.variable(tf.randomNormal([4, 3], 0, 2, 'float32', 1)),
        pl = tf.variable(tf.randomNormal([4, 3], 0, 2, 'float32', 2));
      const given = tf.tensor1d([0, 1, 2, 0], 'int32'),
        fixed = tf.zeros([4]) as tf.Tensor1D;
      const { grads } = tf.variableGrads(
        () => tf.sum(cleanRuleTensor(lg as tf.Tensor2D, pl as tf.Tensor2D, given, fixed, 3, 0.5, 0.4)) as tf.Scalar,
        [lg, pl],
      );
      for (const g of Object.values(grads)) expect(Array.from(await g.data()).every((v) => v === 0)).toBe(true);
      tf.dispose([lg, pl, given, fixed, ...Object.values(grads)]);
    },
    120_000,
  );
});
