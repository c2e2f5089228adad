// Batch augmentation in tf ops (mopro.md §4), random numbers drawn from our seeded Rng so runs repeat
// and resume exactly. Input: float batch [B,H,W,C] in [0,1]. Output: same shape, still in [0,1]
// (normalisation happens in the trainer).
//   weak:   RandomResizedCrop(scale 0.2..1, ratio 3/4..4/3) + horizontal flip
//   strong: weak-style crop + flip + RandomGrayscale(p 0.2) + ColorJitter(0.4, 0.4, 0.4, 0.4)
//           (hue 0.4 = a shift of up to +-0.4 of the hue circle, in HSV as torchvision does);
//           on 1-channel data the colour ops (grayscale, saturation, hue) are skipped; brightness and
//           contrast still apply. Jitter ops run in a fixed order (torchvision shuffles them).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../../src-shared/rng';

export interface CropParams {
  scale: [number, number];
  ratio: [number, number];
}
export const DEFAULT_CROP: CropParams = { scale: [0.2, 1], ratio: [3 / 4, 4 / 3] };

/** torchvision RandomResizedCrop box (normalised y1,x1,y2,x2), flipped horizontally when flip. */
export function randomCropBox(
  rng: Rng,
  H: number,
  W: number,
  p: CropParams,
  flip: boolean,
): [number, number, number, number] {
  const area = H * W;
  let h = H,
    w = W,
    top = 0,
    left = 0,
    found = false;
  for (let t = 0; t < 10 && !found; t++) {
    const a = area * rng.uniform(p.scale[0], p.scale[1]);
    const r = Math.exp(rng.uniform(Math.log(p.ratio[0]), Math.log(p.ratio[1])));
    const cw = Math.round(Math.sqrt(a * r)),
      ch = Math.round(Math.sqrt(a / r));
    if (cw > 0 && ch > 0 && cw <= W && ch <= H) {
      w = cw;
      h = ch;
      top = rng.int(H - h + 1);
      left = rng.int(W - w + 1);
      found = true;
    }
  }
  if (!found) {
    h = H;
    w = W;
    top = 0;
    left = 0;
  }
  const y1 = top / Math.max(1, H - 1),
    y2 = (top + h - 1) / Math.max(1, H - 1);
  let x1 = left / Math.max(1, W - 1),
    x2 = (left + w - 1) / Math.max(1, W - 1);
  if (flip) [x1, x2] = [x2, x1]; // crop_and_resize samples right-to-left when x1 > x2
  return [y1, x1, y2, x2];
}

/**
 * Rows of a batch: x holds rows [lo, lo + n) of a batch of `total` images (a data-parallel replica's share). The
 * augmentations draw their random numbers for the whole batch, in the same order, and apply those of their rows: the
 * random stream, and every row's view, are the same as augmenting the whole batch and slicing.
 */
export interface BatchRows {
  lo: number;
  total: number;
}

/** The part's rows of a batch of draws, `per` numbers each */
const partOf = <T>(draws: T[], part: BatchRows | undefined, n: number, per = 1): T[] =>
  part ? draws.slice(part.lo * per, (part.lo + n) * per) : draws;

export function cropBatch(x: tf.Tensor4D, rng: Rng, p: CropParams = DEFAULT_CROP, part?: BatchRows): tf.Tensor4D {
  const [n, H, W] = x.shape;
  const total = part?.total ?? n;
  const boxes: number[] = [];
  for (let i = 0; i < total; i++) boxes.push(...randomCropBox(rng, H, W, p, rng.next() < 0.5));
  return tf.tidy(() =>
    tf.image.cropAndResize(
      x,
      tf.tensor2d(partOf(boxes, part, n, 4), [n, 4]),
      tf.range(0, n, 1, 'int32') as tf.Tensor1D,
      [H, W],
      'bilinear',
    ),
  );
}

export function weakAugment(x: tf.Tensor4D, rng: Rng, scaleMin = 0.2, part?: BatchRows): tf.Tensor4D {
  return cropBatch(x, rng, { ...DEFAULT_CROP, scale: [scaleMin, 1] }, part);
}

const perSample = (vals: number[], B: number) => tf.tensor4d(vals, [B, 1, 1, 1]);

/** MoCo v2's strong view: ColorJitter(0.4, 0.4, 0.4, 0.4), RandomGrayscale(0.2) */
export const COLOR_JITTER = 0.4,
  GRAY_PROB = 0.2;

export function strongAugment(
  x: tf.Tensor4D,
  rng: Rng,
  scaleMin = 0.2,
  jitter = COLOR_JITTER,
  grayP = GRAY_PROB,
  part?: BatchRows,
): tf.Tensor4D {
  const B = x.shape[0],
    C = x.shape[3],
    total = part?.total ?? B;
  let bright: number[] = [],
    contr: number[] = [],
    sat: number[] = [],
    gray: number[] = [];
  for (let i = 0; i < total; i++) {
    bright.push(rng.uniform(1 - jitter, 1 + jitter));
    contr.push(rng.uniform(1 - jitter, 1 + jitter));
    sat.push(rng.uniform(1 - jitter, 1 + jitter));
    gray.push(rng.next() < grayP ? 1 : 0);
  }
  // torchvision ColorJitter(hue=h): hue_factor ~ U(-h, h), a shift of that fraction of the hue circle
  let hues: number[] = [];
  for (let i = 0; i < total; i++) hues.push(rng.uniform(-jitter, jitter));
  const cropped = cropBatch(x, rng, { ...DEFAULT_CROP, scale: [scaleMin, 1] }, part);
  [bright, contr, sat, gray, hues] = [bright, contr, sat, gray, hues].map((d) => partOf(d, part, B));
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
      h = hueShift(tf.clipByValue(h, 0, 1) as tf.Tensor4D, hues);
      const g2 = tf.sum(tf.mul(h, tf.tensor1d([0.299, 0.587, 0.114])), 3, true);
      const gm = perSample(gray, B);
      // g2 broadcasts over the channels (a Tile is a JS loop on wasm: 116 ms at 128x64x64)
      h = tf.add(tf.mul(h, tf.sub(1, gm)), tf.mul(g2, gm));
    }
    cropped.dispose();
    return tf.clipByValue(h, 0, 1) as tf.Tensor4D;
  });
}

/** (g - b, b - r, r - g) of each pixel as one matMul: each column has one 1 and one -1, so every entry is the
 *  same single rounding as the subtraction (the 0 term adds nothing). */
const HUE_DIFFS = [
  [0, -1, 1],
  [1, 0, -1],
  [-1, 1, 0],
];

/**
 * torchvision adjust_hue: RGB -> HSV, H := (H + shift) mod 1 (shift as a fraction of the circle, one per
 * image), back to RGB with S and V unchanged. Written as the closed form
 * out_n = V - C * clamp(min(k_n, 4 - k_n), 0, 1), k_n = (n + 6H) mod 6, n = 5, 3, 1 for R, G, B; C = V - min.
 * Input in [0, 1]. All three channels are computed at once: splitting them out and concatenating them back
 * are JS loops on wasm (SplitV + Concat measured ~280 ms per step at 128x64x64); the values are the same.
 */
export function hueShift(x: tf.Tensor4D, shifts: number[]): tf.Tensor4D {
  const [B, H, W] = x.shape;
  return tf.tidy(() => {
    const v = tf.max(x, 3, true),
      mn = tf.min(x, 3, true);
    const c = tf.sub(v, mn);
    const safeC = tf.where(tf.greater(c, 0), c, tf.onesLike(c));
    const diffs = tf.reshape(tf.matMul(tf.reshape(x, [B * H * W, 3]), tf.tensor2d(HUE_DIFFS)), [B, H, W, 3]);
    // hue in sixths of the circle, 0..6, as seen from each channel being the max: (g-b)/C mod 6, (b-r)/C + 2,
    // (r-g)/C + 4 (the last two lie in [1, 5], where mod 6 changes nothing)
    const byMax = tf.mod(tf.add(tf.div(diffs, safeC), tf.tensor1d([0, 2, 4])), 6);
    // the first channel equal to the max (r, then g, then b) picks its hue: argMax keeps the first of ties
    const first = tf.argMax(x, 3);
    let h6 = tf.sum(tf.mul(byMax, tf.oneHot(first, 3)), 3, true);
    h6 = tf.mod(tf.add(h6, tf.mul(tf.tensor4d(shifts, [B, 1, 1, 1]), 6)), 6);
    const k = tf.mod(tf.add(h6, tf.tensor1d([5, 3, 1])), 6);
    return tf.sub(v, tf.mul(c, tf.clipByValue(tf.minimum(k, tf.sub(4, k)), 0, 1))) as tf.Tensor4D;
  });
}
