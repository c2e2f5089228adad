// The strong view's hue jitter means what torchvision's ColorJitter(hue=0.4) means: the HSV hue moves by
// up to +-0.4 of the circle, saturation and value stay.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { hueShift, strongAugment } from './augment';
import { Rng } from '../../../src-shared/rng';
import { BACKENDS, useBackend } from '../backends/test-backends';

function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b),
    c = v - Math.min(r, g, b);
  let h = 0;
  if (c > 0) h = v === r ? ((g - b) / c + 6) % 6 : v === g ? (b - r) / c + 2 : (r - g) / c + 4;
  return [h / 6, v ? c / v : 0, v];
}
function hsvToRgb(h: number, s: number, v: number): number[] {
  const i = Math.floor(h * 6) % 6,
    f = h * 6 - Math.floor(h * 6),
    p = v * (1 - s),
    q = v * (1 - s * f),
    t = v * (1 - s * (1 - f));
  return [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i];
}
const circDiff = (a: number, b: number) => {
  const d = ((((a - b) % 1) + 1.5) % 1) - 0.5;
  return d;
};

describe.each(BACKENDS)('hue jitter (%s)', (backend) => {
  it('hueShift equals an HSV round trip with H + shift (mod 1)', async () => {
    await useBackend(backend);
    const B = 8,
      n = 25,
      rng = new Rng(7);
    const px: number[] = [],
      shifts: number[] = [];
    for (let i = 0; i < B; i++) shifts.push(rng.uniform(-0.5, 0.5));
    for (let i = 0; i < B * n * 3; i++) px.push(rng.next());
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(px, [B, 5, 5, 3]);
    const y = hueShift(x, shifts);
    const out = y.dataSync();
    x.dispose();
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < B; i++)
      for (let j = 0; j < n; j++) {
        const o = (i * n + j) * 3;
        const [h, s, v] = rgbToHsv(px[o], px[o + 1], px[o + 2]);
        const want = hsvToRgb((((h + shifts[i]) % 1) + 1) % 1, s, v);
        for (let c = 0; c < 3; c++) expect(Math.abs(out[o + c] - want[c])).toBeLessThan(1e-4);
      }
  });

  it('gives the same bits as the per-channel formulation (split, where-chain, concat), ties included', async () => {
    await useBackend(backend);
    // the closed form one channel at a time, as hueShift computed it before it worked on all three at once
    const perChannel = (x: tf.Tensor4D, shifts: number[]) =>
      tf.tidy(() => {
        const [r, g, b] = tf.split(x, 3, 3);
        const v = tf.maximum(tf.maximum(r, g), b),
          c = tf.sub(v, tf.minimum(tf.minimum(r, g), b));
        const safeC = tf.where(tf.greater(c, 0), c, tf.onesLike(c));
        const hr = tf.mod(tf.div(tf.sub(g, b), safeC), 6),
          hg = tf.add(tf.div(tf.sub(b, r), safeC), 2),
          hb = tf.add(tf.div(tf.sub(r, g), safeC), 4);
        let h6 = tf.where(tf.equal(v, r), hr, tf.where(tf.equal(v, g), hg, hb));
        h6 = tf.mod(tf.add(h6, tf.mul(tf.tensor4d(shifts, [x.shape[0], 1, 1, 1]), 6)), 6);
        const chan = (n: number) => {
          const k = tf.mod(tf.add(h6, n), 6);
          return tf.sub(v, tf.mul(c, tf.clipByValue(tf.minimum(k, tf.sub(4, k)), 0, 1)));
        };
        return tf.concat([chan(5), chan(3), chan(1)], 3);
      });
    const B = 6,
      rng = new Rng(11);
    const levels = [0, 0.25, 0.5, 1]; // coarse levels make equal channels (ties for the max, greys) common
    const px = Array.from({ length: B * 8 * 8 * 3 }, (_, i) =>
      i % 2 ? rng.next() : levels[Math.floor(rng.next() * levels.length)],
    );
    const shifts = Array.from({ length: B }, () => rng.uniform(-0.4, 0.4));
    const x = tf.tensor4d(px, [B, 8, 8, 3]);
    const before = tf.memory().numTensors;
    const got = hueShift(x, shifts),
      want = perChannel(x, shifts);
    expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
    tf.dispose([got, want]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('a third of the circle turns pure red into pure green; shift 0 is the identity', async () => {
    await useBackend(backend);
    const red = tf.tensor4d([1, 0, 0, 0.2, 0.5, 0.9], [2, 1, 1, 3]);
    const g = hueShift(red, [1 / 3, 0]).dataSync();
    [0, 1, 0, 0.2, 0.5, 0.9].forEach((v, i) => expect(g[i]).toBeCloseTo(v, 5));
    red.dispose();
  });

  it('strongAugment draws shifts over the whole +-0.4 range (torchvision hue=0.4)', async () => {
    await useBackend(backend);
    // one flat colour per image: crop, brightness, contrast and saturation keep its hue; only the hue jitter moves it
    const B = 200,
      col = [0.8, 0.1, 0.1];
    const x = tf.tensor4d(Array.from({ length: B * 4 * 4 }, () => col).flat(), [B, 4, 4, 3]);
    const y = strongAugment(x, new Rng(3), 0.5, 0.4, 0);
    const out = y.dataSync();
    x.dispose();
    y.dispose();
    const h0 = rgbToHsv(col[0], col[1], col[2])[0];
    const d = Array.from({ length: B }, (_, i) => {
      const o = i * 16 * 3;
      return circDiff(rgbToHsv(out[o], out[o + 1], out[o + 2])[0], h0);
    });
    const mx = Math.max(...d.map(Math.abs));
    expect(mx).toBeGreaterThan(0.3); // the old half-size jitter never left +-0.2
    expect(mx).toBeLessThanOrEqual(0.4 + 1e-3);
    expect(Math.min(...d)).toBeLessThan(-0.2);
    expect(Math.max(...d)).toBeGreaterThan(0.2);
  });
});
