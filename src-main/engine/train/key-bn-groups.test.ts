// Shuffle-BN substitute: each group of the key batch is normalised with its own statistics (the keys equal
// those of forwarding each group alone), one group moves the running statistics, the keys come back in batch
// order, replicas draw the same random numbers, and in the trainer 1 group changes nothing while 2 leak nothing.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { cloneEncoder, createEncoder, disposeEncoder, forward } from '../nets/model';
import { Rng } from '../../../src-shared/rng';
import { groupedKeyForward, keyGroupOrder } from './key-bn-groups';
import { resolveConfig, type EngineConfig } from './config';
import { Trainer } from './trainer';
import { smallTrainConfig, syntheticTrainData } from './test-data';
import { useBackend } from '../backends/test-backends';

const rows = (t: tf.Tensor2D, idx: number[]) => {
  const d = t.shape[1],
    a = t.dataSync();
  return idx.flatMap((i) => Array.from(a.subarray(i * d, (i + 1) * d)));
};
const maxAbsDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

describe('groupedKeyForward (wasm)', () => {
  it('2 groups: each group normalised alone, keys back in batch order, running stats moved once', async () => {
    await useBackend('wasm');
    const enc = createEncoder('resnet-micro', 1, 4, 3);
    const x = tf.randomNormal([8, 8, 8, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
    const order = Int32Array.from([5, 2, 7, 0, 3, 6, 1, 4]);
    const g0 = [5, 2, 7, 0],
      g1 = [3, 6, 1, 4];
    // references on copies, so the running statistics each call moves can be compared
    const [a, b, c, one, plain] = [0, 1, 2, 3, 4].map(() => cloneEncoder(enc));
    const grouped = groupedKeyForward(a, x, 2, order);
    const alone0 = tf.tidy(() => forward(b, tf.gather(x, g0) as tf.Tensor4D, true).emb); // b: moved by group 0 only
    const alone1 = tf.tidy(() => forward(c, tf.gather(x, g1) as tf.Tensor4D, true).emb);
    const whole = groupedKeyForward(one, x, 1);
    const ref = tf.tidy(() => forward(plain, x, true).emb);
    expect(grouped.shape).toEqual([8, whole.shape[1]]);
    // row i of the result is image i's key computed within its own group
    const all = Array.from({ length: 8 }, (_, i) => i);
    const byGroup = all.flatMap((i) =>
      g0.includes(i) ? rows(alone0, [g0.indexOf(i)]) : rows(alone1, [g1.indexOf(i)]),
    );
    expect(maxAbsDiff(rows(grouped, all), byGroup)).toBeLessThan(1e-5);
    // and not what one forward over the whole batch gives
    expect(maxAbsDiff(rows(grouped, all), rows(whole, all))).toBeGreaterThan(1e-3);
    // 1 group is exactly the plain forward
    expect(rows(whole, all)).toEqual(rows(ref, all));
    // running statistics: one update, from group 0's rows (as one DDP rank's buffers)
    for (const [n, v] of a.buffers)
      expect(maxAbsDiff(Array.from(v.dataSync()), Array.from(b.buffers.get(n)!.dataSync()))).toBeLessThan(1e-6);
    tf.dispose([x, grouped, alone0, alone1, whole, ref]);
    for (const e of [enc, a, b, c, one, plain]) disposeEncoder(e);
  });

  it('keyGroupOrder: a permutation of the replica rows, same random numbers drawn on every replica', () => {
    const r0 = new Rng(5),
      r1 = new Rng(5);
    const o0 = keyGroupOrder(r0, 10, 0, 5),
      o1 = keyGroupOrder(r1, 10, 5, 10);
    expect(r0.state).toBe(r1.state);
    expect([...o0].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...o1].sort()).toEqual([0, 1, 2, 3, 4]);
    const whole = keyGroupOrder(new Rng(5), 10, 0, 10);
    expect([...whole].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...whole]).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

const config = (over: Partial<EngineConfig> = {}) => smallTrainConfig('mopro', 8, over);
const weights = (t: Trainer) =>
  [...t.query.params.values(), ...t.key!.params.values()].map((v) => Array.from(v.dataSync()));

describe('trainer with keyBnGroups (wasm)', () => {
  it('1 group = the field absent (bit-identical); 2 groups: other keys, numTensors flat across steps', async () => {
    await useBackend('wasm');
    const data = syntheticTrainData(64, 8, 4),
      norm = { mean: [0.3], std: [0.2] };
    const absent = new Trainer(config(), data, norm),
      one = new Trainer(config({ keyBnGroups: 1 }), data, norm),
      two = new Trainer(config({ keyBnGroups: 2 }), data, norm);
    const l: number[][] = [[], [], []];
    for (let i = 0; i < 4; i++) {
      l[0].push((await absent.step()).losses.ins);
      l[1].push((await one.step()).losses.ins);
    }
    l[2].push((await two.step()).losses.ins);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) l[2].push((await two.step()).losses.ins);
    expect(tf.memory().numTensors).toBe(before);
    expect(l[1]).toEqual(l[0]);
    expect(weights(one)).toEqual(weights(absent));
    expect(one.rng.state).toBe(absent.rng.state);
    expect(Array.from(one.queue!.data)).toEqual(Array.from(absent.queue!.data));
    // the first step's instance loss already differs: its keys were normalised per group
    expect(Math.abs(l[2][0] - l[0][0])).toBeGreaterThan(1e-4);
    expect(l[2].every(Number.isFinite)).toBe(true);
    for (const t of [absent, one, two]) t.dispose();
  }, 60_000);

  it('resolveConfig: run.json adaptations name the groups; a bad count is refused', () => {
    const base = { method: 'mopro' as const, backend: 'wasm', n: 1000, k: 4, channels: 1 as const, nativeSize: 28 };
    expect(resolveConfig(base).adaptations.join('\n')).not.toMatch(/sub-batch/);
    expect(resolveConfig({ ...base, overrides: { keyBnGroups: 4 } }).adaptations.join('\n')).toMatch(
      /key encoder BN per shuffled sub-batch: 4 groups of ~32/,
    );
    expect(() => resolveConfig({ ...base, overrides: { keyBnGroups: 0 } })).toThrow(/keyBnGroups 0/);
    expect(() => resolveConfig({ ...base, overrides: { keyBnGroups: 1.5 } })).toThrow(/whole number/);
  });
});
