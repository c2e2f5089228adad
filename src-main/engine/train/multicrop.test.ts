// Multi-crop geometry (1 / 10 / 144 crops) and the crop op on wasm and cpu, against hand-computed boxes/pixels.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { applyCrops, cropAndResizeHost, cropBoxes, type CropBox } from './multicrop';
import { BACKENDS, useBackend } from '../backends/test-backends';

const key = (c: CropBox) =>
  [c.y1, c.x1, c.y2, c.x2, c.flip].map((v) => (typeof v === 'number' ? v.toFixed(9) : String(v))).join(',');
const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 9);
function expectBoxes(got: CropBox[], want: number[][]) {
  expect(got).toHaveLength(want.length);
  got.forEach((c, i) => [c.y1, c.x1, c.y2, c.x2].forEach((v, t) => close(v, want[i][t])));
}

describe('cropBoxes', () => {
  it('1: the whole image, not flipped', () => {
    expect(cropBoxes(1, 640, 480).map(({ y1, x1, y2, x2, flip }) => ({ y1, x1, y2, x2, flip }))).toEqual([
      { y1: 0, x1: 0, y2: 1, x2: 1, flip: false },
    ]);
  });

  it('10: corners and centre of side 224/256 of the shorter side (4:3 image), then the same mirrored', () => {
    const b = cropBoxes(10, 400, 300);
    expect(b).toHaveLength(10);
    // crop side 262.5 px: 0.875 of the height, 0.65625 of the width
    const want = [
      [0, 0, 0.875, 0.65625],
      [0, 0.34375, 0.875, 1],
      [0.125, 0, 1, 0.65625],
      [0.125, 0.34375, 1, 1],
      [0.0625, 0.171875, 0.9375, 0.828125],
    ];
    for (let i = 0; i < 10; i++) {
      const w = want[i % 5];
      close(b[i].y1, w[0]);
      close(b[i].x1, w[1]);
      close(b[i].y2, w[2]);
      close(b[i].x2, w[3]);
      expect(b[i].flip).toBe(i >= 5);
    }
    expect(b.map((c) => c.tag!.pos)).toEqual(['tl', 'tr', 'bl', 'br', 'c', 'tl', 'tr', 'bl', 'br', 'c']);
  });

  for (const [W, H] of [
    [400, 300],
    [300, 400],
    [256, 256],
    [1000, 100],
    [37, 91],
  ]) {
    it(`144 for ${W}x${H}: inside [0,1], half flipped, crop sides 224/scale of the shorter side`, () => {
      const b = cropBoxes(144, W, H);
      expect(b).toHaveLength(144);
      expect(b.filter((c) => c.flip)).toHaveLength(72);
      const S = Math.min(W, H);
      for (const c of b) {
        for (const v of [c.y1, c.x1, c.y2, c.x2]) {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
        const side = c.tag!.pos === 'full' ? S : (224 / c.tag!.scale) * S;
        expect((c.y2 - c.y1) * H).toBeCloseTo(side, 6);
        expect((c.x2 - c.x1) * W).toBeCloseTo(side, 6);
      }
      // every (scale, square, position, flip) exactly once
      expect(new Set(b.map((c) => `${c.tag!.scale}/${c.tag!.square}/${c.tag!.pos}/${c.flip}`)).size).toBe(144);
      expect([...new Set(b.map((c) => c.tag!.scale))]).toEqual([256, 288, 320, 352]);
    });
  }

  it('144 on a 4:3 image: squares left/centre/right, distinct boxes except the whole square repeated per scale', () => {
    const b = cropBoxes(144, 400, 300);
    // the whole squares: x from 0, 50 and 100 px (0, 0.125, 0.25), full height
    const full = b.filter((c) => !c.flip && c.tag!.pos === 'full' && c.tag!.scale === 256);
    expectBoxes(full, [
      [0, 0, 1, 0.75],
      [0, 0.125, 1, 0.875],
      [0, 0.25, 1, 1],
    ]);
    // centre square, scale 256, top-left crop: x 50..312.5 px, y 0..262.5 px
    const tl = b.find((c) => !c.flip && c.tag!.scale === 256 && c.tag!.square === 1 && c.tag!.pos === 'tl')!;
    close(tl.x1, 0.125);
    close(tl.x2, 0.78125);
    close(tl.y1, 0);
    close(tl.y2, 0.875);
    // right square, scale 352, bottom-right crop ends at the image corner
    const br = b.find((c) => !c.flip && c.tag!.scale === 352 && c.tag!.square === 2 && c.tag!.pos === 'br')!;
    close(br.x2, 1);
    close(br.y2, 1);
    close(br.x1, 1 - ((224 / 352) * 300) / 400);
    // 4 scales x 3 squares x 5 crops x 2 + 3 whole squares x 2 (the same for every scale)
    expect(new Set(b.map(key)).size).toBe(4 * 3 * 5 * 2 + 3 * 2);
  });

  it('144 on a portrait image: the squares slide vertically', () => {
    const full = cropBoxes(144, 300, 400).filter((c) => !c.flip && c.tag!.pos === 'full' && c.tag!.scale === 256);
    expectBoxes(full, [
      [0, 0, 0.75, 1],
      [0.125, 0, 0.875, 1],
      [0.25, 0, 1, 1],
    ]);
  });

  it('144 on a square image: the 3 squares coincide (4 x 5 crops + the whole image, each mirrored, distinct)', () => {
    expect(new Set(cropBoxes(144, 64, 64).map(key)).size).toBe((4 * 5 + 1) * 2);
  });

  it('rejects unknown schemes and empty images', () => {
    expect(() => cropBoxes(5 as never, 10, 10)).toThrow(/1, 10 or 144/);
    expect(() => cropBoxes(10, 0, 10)).toThrow(/positive/);
  });
});

for (const be of BACKENDS) {
  describe(`applyCrops (${be})`, () => {
    // 9 x 9 ramp v = 10 y + x (image 1: + 100); 10-crop boxes are then exactly 8 x 8 pixel windows
    const ramp = () => {
      const a = new Float32Array(2 * 81);
      for (let b = 0; b < 2; b++)
        for (let y = 0; y < 9; y++) for (let x = 0; x < 9; x++) a[b * 81 + y * 9 + x] = 100 * b + 10 * y + x;
      return tf.tensor4d(a, [2, 9, 9, 1]);
    };

    it('corner crops and their mirrors give the expected pixels, rows b * nb + j', async () => {
      await useBackend(be);
      const x = ramp();
      const boxes = cropBoxes(10, 9, 9);
      const out = applyCrops(x, boxes, 8);
      expect(out.shape).toEqual([20, 8, 8, 1]);
      const v = out.arraySync() as number[][][][];
      for (let i = 0; i < 8; i++)
        for (let j = 0; j < 8; j++) {
          expect(v[0][i][j][0]).toBeCloseTo(10 * i + j, 4); //               image 0, top-left
          expect(v[3][i][j][0]).toBeCloseTo(10 * (i + 1) + j + 1, 4); //     image 0, bottom-right
          expect(v[5][i][j][0]).toBeCloseTo(10 * i + (7 - j), 4); //         image 0, top-left mirrored
          expect(v[10][i][j][0]).toBeCloseTo(100 + 10 * i + j, 4); //        image 1, top-left
          expect(v[11][i][j][0]).toBeCloseTo(100 + 10 * i + j + 1, 4); //      image 1, top-right: x from 1
          expect(v[18][i][j][0]).toBeCloseTo(100 + 10 * (i + 1) + 8 - j, 4); // image 1, bottom-right mirrored
        }
      x.dispose();
      out.dispose();
    });

    it('the whole-image box at the same size is the identity; no tensors leak', async () => {
      await useBackend(be);
      const x = ramp();
      const before = tf.memory().numTensors;
      for (let r = 0; r < 3; r++) {
        const o = applyCrops(x, cropBoxes(1, 9, 9), 9);
        expect(Array.from(o.dataSync())).toEqual(Array.from(x.dataSync()));
        o.dispose();
        applyCrops(x, cropBoxes(144, 9, 9), 5).dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  });
}

describe('cropAndResizeHost (the wasm path)', () => {
  it('matches the cpu kernel + tf.reverse bit for bit on a random 3-channel batch and the 144 boxes of a 4:3 image', async () => {
    await useBackend('cpu');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 12 * 12 * 3 }, rnd), [2, 12, 12, 3]);
    const boxes = cropBoxes(144, 400, 300);
    const a = applyCrops(x, boxes, 10),
      b = cropAndResizeHost(x, boxes, 10);
    expect(b.shape).toEqual([288, 10, 10, 3]);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
  });
});
