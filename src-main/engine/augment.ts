// Batch augmentation in tf ops (mopro.md §4), random numbers drawn from our seeded Rng so runs repeat
// and resume exactly. Input: float batch [B,H,W,C] in [0,1]. Output: same shape, still in [0,1]
// (normalisation happens in the trainer).
//   weak:   RandomResizedCrop(scale 0.2..1, ratio 3/4..4/3) + horizontal flip
//   strong: weak-style crop + flip + RandomGrayscale(p 0.2) + ColorJitter(0.4, 0.4, 0.4, 0.4)
//           on 1-channel data the colour ops (grayscale, saturation, hue) are skipped; brightness and
//           contrast still apply. Jitter ops run in a fixed order (torchvision shuffles them).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng';

export interface CropParams { scale: [number, number]; ratio: [number, number] }
export const DEFAULT_CROP: CropParams = { scale: [0.2, 1], ratio: [3 / 4, 4 / 3] };

/** torchvision RandomResizedCrop box (normalised y1,x1,y2,x2), flipped horizontally when flip. */
export function randomCropBox(rng: Rng, H: number, W: number, p: CropParams, flip: boolean): [number, number, number, number] {
  const area = H * W;
  let h = H, w = W, top = 0, left = 0, found = false;
  for (let t = 0; t < 10 && !found; t++) {
    const a = area * rng.uniform(p.scale[0], p.scale[1]);
    const r = Math.exp(rng.uniform(Math.log(p.ratio[0]), Math.log(p.ratio[1])));
    const cw = Math.round(Math.sqrt(a * r)), ch = Math.round(Math.sqrt(a / r));
    if (cw > 0 && ch > 0 && cw <= W && ch <= H) {
      w = cw; h = ch; top = rng.int(H - h + 1); left = rng.int(W - w + 1); found = true;
    }
  }
  if (!found) { h = H; w = W; top = 0; left = 0; }
  const y1 = top / Math.max(1, H - 1), y2 = (top + h - 1) / Math.max(1, H - 1);
  let x1 = left / Math.max(1, W - 1), x2 = (left + w - 1) / Math.max(1, W - 1);
  if (flip) [x1, x2] = [x2, x1]; // crop_and_resize samples right-to-left when x1 > x2
  return [y1, x1, y2, x2];
}

export function cropBatch(x: tf.Tensor4D, rng: Rng, p: CropParams = DEFAULT_CROP): tf.Tensor4D {
  const [B, H, W] = x.shape;
  const boxes: number[] = [];
  for (let i = 0; i < B; i++) boxes.push(...randomCropBox(rng, H, W, p, rng.next() < 0.5));
  return tf.tidy(() => tf.image.cropAndResize(x, tf.tensor2d(boxes, [B, 4]), tf.range(0, B, 1, 'int32') as tf.Tensor1D, [H, W], 'bilinear'));
}

export function weakAugment(x: tf.Tensor4D, rng: Rng, scaleMin = 0.2): tf.Tensor4D {
  return cropBatch(x, rng, { ...DEFAULT_CROP, scale: [scaleMin, 1] });
}

const perSample = (vals: number[], B: number) => tf.tensor4d(vals, [B, 1, 1, 1]);

export function strongAugment(x: tf.Tensor4D, rng: Rng, scaleMin = 0.2, jitter = 0.4, grayP = 0.2): tf.Tensor4D {
  const B = x.shape[0], C = x.shape[3];
  const bright: number[] = [], contr: number[] = [], sat: number[] = [], gray: number[] = [];
  for (let i = 0; i < B; i++) {
    bright.push(rng.uniform(1 - jitter, 1 + jitter));
    contr.push(rng.uniform(1 - jitter, 1 + jitter));
    sat.push(rng.uniform(1 - jitter, 1 + jitter));
    gray.push(rng.next() < grayP ? 1 : 0);
  }
  const hueShift: number[] = [];
  for (let i = 0; i < B; i++) hueShift.push(rng.uniform(-jitter, jitter) * 0.5); // torchvision hue in [-0.5,0.5] of the circle
  const cropped = cropBatch(x, rng, { ...DEFAULT_CROP, scale: [scaleMin, 1] });
  return tf.tidy(() => {
    let h: tf.Tensor4D = tf.mul(cropped, perSample(bright, B));
    // contrast: blend with the per-image mean grey level
    const lum = C === 3 ? tf.sum(tf.mul(h, tf.tensor1d([0.299, 0.587, 0.114])), 3, true) : h;
    const m = tf.mean(lum, [1, 2, 3], true);
    h = tf.add(tf.mul(h, perSample(contr, B)), tf.mul(m, tf.sub(1, perSample(contr, B))));
    h = tf.clipByValue(h, 0, 1);
    if (C === 3) {
      const g = tf.sum(tf.mul(h, tf.tensor1d([0.299, 0.587, 0.114])), 3, true);
      h = tf.add(tf.mul(h, perSample(sat, B)), tf.mul(g, tf.sub(1, perSample(sat, B))));
      h = hueRotate(tf.clipByValue(h, 0, 1) as tf.Tensor4D, hueShift);
      const g2 = tf.sum(tf.mul(h, tf.tensor1d([0.299, 0.587, 0.114])), 3, true);
      const gm = perSample(gray, B);
      h = tf.add(tf.mul(h, tf.sub(1, gm)), tf.mul(tf.tile(g2, [1, 1, 1, 3]), gm));
    }
    cropped.dispose();
    return tf.clipByValue(h, 0, 1) as tf.Tensor4D;
  });
}

/** Hue rotation as a per-image 3x3 matrix in YIQ space (a close, differentiable-free stand-in for HSV hue shift). */
function hueRotate(x: tf.Tensor4D, shifts: number[]): tf.Tensor4D {
  const [B, H, W] = x.shape;
  const mats: number[] = [];
  for (const s of shifts) {
    const th = s * 2 * Math.PI, c = Math.cos(th), sn = Math.sin(th);
    // RGB->YIQ, rotate IQ, YIQ->RGB, composed
    const T = [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]];
    const Ti = [[1, 0.956, 0.621], [1, -0.272, -0.647], [1, -1.106, 1.703]];
    const R = [[1, 0, 0], [0, c, -sn], [0, sn, c]];
    const mul = (A: number[][], Bm: number[][]) => A.map((r) => Bm[0].map((_, j) => r.reduce((acc, v, k) => acc + v * Bm[k][j], 0)));
    const M = mul(Ti, mul(R, T)); // out = M . rgb
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) mats.push(M[j][i]); // store as [in, out]
  }
  const m = tf.tensor3d(mats, [B, 3, 3]);
  return tf.reshape(tf.matMul(tf.reshape(x, [B, H * W, 3]), m), [B, H, W, 3]) as tf.Tensor4D;
}
