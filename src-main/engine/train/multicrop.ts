// Multi-crop test-time evaluation: the crop geometries of the classic ImageNet
// protocols as normalised boxes, and one op that cuts them out of a batch.
//   1   the whole image (what the final pass sees today).
//   10  AlexNet/ResNet "10-crop": shorter side resized to 256, 224 crops at the 4 corners and the centre,
//       each also mirrored.
//   144 GoogLeNet (Szegedy et al. 2015, seed 002): shorter side resized to 256/288/320/352; 3 squares of the
//       shorter side (left/centre/right, or top/centre/bottom for portrait images); in each square the 4
//       corner and the centre 224 crops plus the whole square resized to 224; each mirrored:
//       4 scales x 3 squares x 6 crops x 2 = 144.
// Boxes are [y1, x1, y2, x2] in 0..1 of the SOURCE image (tf.image.cropAndResize's convention), so they stay
// valid for the same image at any pixel size, including a decode that squashed it to a square.
import * as tf from '@tensorflow/tfjs';

export type CropScheme = 1 | 10 | 144;
export const CROP_SCHEMES: readonly CropScheme[] = [1, 10, 144];

export type CropPos = 'tl' | 'tr' | 'bl' | 'br' | 'c' | 'full';

export interface CropBox {
  y1: number;
  x1: number;
  y2: number;
  x2: number;
  /** mirror left-right after cropping */
  flip: boolean;
  /** where the crop came from (descriptive only; 10-crop: scale 256, square 0) */
  tag?: { scale: number; square: number; pos: CropPos };
}

/** Crop side / resized shorter side of the ImageNet protocols. */
export const CROP_SIDE = 224;
export const TEN_CROP_SCALE = 256;
export const SCALES_144 = [256, 288, 320, 352] as const;

const CORNERS: CropPos[] = ['tl', 'tr', 'bl', 'br', 'c'];

/**
 * The 5 crop positions of side f (fraction of the square's side) inside a square that starts at (oy, ox) in
 * shorter-side units; returned in shorter-side units [y1, x1, y2, x2].
 */
function fiveCrops(oy: number, ox: number, f: number): { pos: CropPos; b: [number, number, number, number] }[] {
  const lo = 0,
    hi = 1 - f,
    mid = (1 - f) / 2;
  const at = (y: number, x: number): [number, number, number, number] => [oy + y, ox + x, oy + y + f, ox + x + f];
  return [
    { pos: 'tl', b: at(lo, lo) },
    { pos: 'tr', b: at(lo, hi) },
    { pos: 'bl', b: at(hi, lo) },
    { pos: 'br', b: at(hi, hi) },
    { pos: 'c', b: at(mid, mid) },
  ];
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/**
 * Crop boxes of a scheme for an image of srcW x srcH pixels. Order: all unflipped crops first, then the
 * same crops mirrored (torchvision TenCrop order); within each half, 144 runs scale > square > position.
 */
export function cropBoxes(scheme: CropScheme, srcW: number, srcH: number): CropBox[] {
  if (!(srcW > 0 && srcH > 0)) throw new Error(`cropBoxes: image size must be positive, got ${srcW}x${srcH}`);
  // work in units of the shorter side: the image is W x H with min(W, H) = 1
  const S = Math.min(srcW, srcH),
    W = srcW / S,
    H = srcH / S;
  const norm = (b: [number, number, number, number]) => ({
    y1: clamp01(b[0] / H),
    x1: clamp01(b[1] / W),
    y2: clamp01(b[2] / H),
    x2: clamp01(b[3] / W),
  });
  const plain: CropBox[] = [];
  if (scheme === 1) {
    plain.push({ y1: 0, x1: 0, y2: 1, x2: 1, flip: false, tag: { scale: 0, square: 0, pos: 'full' } });
  } else if (scheme === 10) {
    // 224 of 256 of the shorter side; corners of the WHOLE (possibly non-square) image
    const f = CROP_SIDE / TEN_CROP_SCALE;
    const [yh, xh] = [H - f, W - f];
    const b: Record<CropPos, [number, number, number, number]> = {
      tl: [0, 0, f, f],
      tr: [0, xh, f, W],
      bl: [yh, 0, H, f],
      br: [yh, xh, H, W],
      c: [yh / 2, xh / 2, yh / 2 + f, xh / 2 + f],
      full: [0, 0, H, W],
    };
    for (const pos of CORNERS)
      plain.push({ ...norm(b[pos]), flip: false, tag: { scale: TEN_CROP_SCALE, square: 0, pos } });
  } else if (scheme === 144) {
    // the 3 squares slide along the longer side; for a square image they coincide (same boxes three times):
    // the geometry stays the scheme's, so 144 views are still averaged, with repeats
    const L = Math.max(W, H),
      portrait = H > W;
    const offs = [0, (L - 1) / 2, L - 1];
    for (const scale of SCALES_144) {
      const f = CROP_SIDE / scale;
      offs.forEach((o, square) => {
        const [oy, ox] = portrait ? [o, 0] : [0, o];
        for (const { pos, b } of fiveCrops(oy, ox, f))
          plain.push({ ...norm(b), flip: false, tag: { scale, square, pos } });
        // the whole square resized to 224: independent of the scale, so it repeats for each of the 4 scales
        plain.push({ ...norm([oy, ox, oy + 1, ox + 1]), flip: false, tag: { scale, square, pos: 'full' } });
      });
    }
  } else {
    throw new Error(`unknown crop scheme ${String(scheme)}: use 1, 10 or 144`);
  }
  if (scheme === 1) return plain;
  return [...plain, ...plain.map((c) => ({ ...c, flip: true }))];
}

/**
 * x: [B, H, W, C] (already normalised) -> [B * boxes.length, outSize, outSize, C], row b * nb + j = box j of
 * image b. Bilinear tf.image.cropAndResize, tf.reverse on the width axis for mirrored boxes. On wasm the
 * crops are cut on the host instead (cropAndResizeHost): tfjs-backend-wasm 4.22 HAS a CropAndResize kernel
 * but it is wrong when a box maps to exactly one source pixel per output pixel (9 px image, box x 0.125..1,
 * 8 px crop: it starts at column 0 instead of 1; the cpu kernel starts at 1). The whole-image box at
 * outSize = H = W returns the input exactly on every backend.
 */
export function applyCrops(x: tf.Tensor4D, boxes: CropBox[], outSize: number): tf.Tensor4D {
  const [B] = x.shape,
    nb = boxes.length;
  if (!nb) throw new Error('applyCrops: no boxes');
  if (tf.getBackend() === 'wasm') return cropAndResizeHost(x, boxes, outSize);
  return tf.tidy(() => {
    const coords = new Float32Array(B * nb * 4),
      ind = new Int32Array(B * nb);
    for (let b = 0; b < B; b++) {
      boxes.forEach((c, j) => {
        coords.set([c.y1, c.x1, c.y2, c.x2], (b * nb + j) * 4);
        ind[b * nb + j] = b;
      });
    }
    const crops = tf.image.cropAndResize(
      x,
      tf.tensor2d(coords, [B * nb, 4]),
      tf.tensor1d(ind, 'int32'),
      [outSize, outSize],
      'bilinear',
    );
    if (!boxes.some((c) => c.flip)) return crops;
    // pick each row from the plain or the mirrored copy (a gather is exact; a masked blend would not be)
    const both = tf.concat([crops, tf.reverse(crops, 2)], 0);
    const pick = new Int32Array(B * nb);
    for (let r = 0; r < B * nb; r++) pick[r] = boxes[r % nb].flip ? B * nb + r : r;
    return tf.gather(both, tf.tensor1d(pick, 'int32')) as tf.Tensor4D;
  });
}

/**
 * applyCrops on the host: the arithmetic of tfjs-backend-cpu's CropAndResize (bilinear, box coordinates
 * rounded to float32 as the kernel reads them, extrapolation value 0), mirrored boxes written right to left.
 * Cheap next to the forward pass that follows (about 10 flops per output value).
 */
export function cropAndResizeHost(x: tf.Tensor4D, boxes: CropBox[], outSize: number): tf.Tensor4D {
  const [B, H, W, C] = x.shape,
    nb = boxes.length,
    O = outSize;
  const src = x.dataSync() as Float32Array;
  const out = new Float32Array(B * nb * O * O * C);
  const f = Math.fround;
  for (let b = 0; b < B; b++)
    for (let j = 0; j < nb; j++) {
      const bx = boxes[j],
        y1 = f(bx.y1),
        x1 = f(bx.x1),
        y2 = f(bx.y2),
        x2 = f(bx.x2);
      const hs = O > 1 ? ((y2 - y1) * (H - 1)) / (O - 1) : 0,
        ws = O > 1 ? ((x2 - x1) * (W - 1)) / (O - 1) : 0;
      const base = b * H * W * C,
        ob = (b * nb + j) * O * O * C;
      for (let yo = 0; yo < O; yo++) {
        const yi = O > 1 ? y1 * (H - 1) + yo * hs : 0.5 * (y1 + y2) * (H - 1);
        if (yi < 0 || yi > H - 1) continue; // extrapolation value 0 (the buffer is zero already)
        const top = Math.floor(yi),
          bot = Math.ceil(yi),
          yl = yi - top;
        for (let xo = 0; xo < O; xo++) {
          const xi = O > 1 ? x1 * (W - 1) + xo * ws : 0.5 * (x1 + x2) * (W - 1);
          if (xi < 0 || xi > W - 1) continue;
          const l = Math.floor(xi),
            r = Math.ceil(xi),
            xl = xi - l;
          const o = ob + (yo * O + (bx.flip ? O - 1 - xo : xo)) * C;
          for (let c = 0; c < C; c++) {
            const tl = src[base + (top * W + l) * C + c],
              tr = src[base + (top * W + r) * C + c];
            const bl = src[base + (bot * W + l) * C + c],
              br = src[base + (bot * W + r) * C + c];
            const t = tl + (tr - tl) * xl,
              u = bl + (br - bl) * xl;
            out[o + c] = t + (u - t) * yl;
          }
        }
      }
    }
  return tf.tensor4d(out, [B * nb, O, O, C]);
}
