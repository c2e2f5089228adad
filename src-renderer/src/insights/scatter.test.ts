import { describe, expect, it } from 'vitest';
import { cellFilter } from '../stores/insights';
import { gridFilter } from '../stores/review';
import { boxPolygon, insidePolygon, Scatter, toPixel } from './scatter';

/** Just enough of a canvas for Scatter's maths (no drawing in node). */
function fakeCanvas(): HTMLCanvasElement {
  const ctx = {
    createImageData: (w: number, h: number) => ({ data: new Uint8ClampedArray(w * h * 4), width: w, height: h }),
    putImageData: () => undefined,
    save: () => undefined,
    restore: () => undefined,
  };
  return { width: 0, height: 0, getContext: () => ctx } as unknown as HTMLCanvasElement;
}

describe('scatter maths', () => {
  it('toPixel swaps ARGB into ImageData byte order', () => {
    const px = new Uint8ClampedArray(new Uint32Array([toPixel(0xff112233)]).buffer);
    expect(Array.from(px)).toEqual([0x11, 0x22, 0x33, 0xff]);
  });

  it('insidePolygon on a concave polygon', () => {
    const L = [0, 0, 10, 0, 10, 2, 2, 2, 2, 10, 0, 10]; // an L shape
    expect(insidePolygon(1, 1, L)).toBe(true);
    expect(insidePolygon(9, 1, L)).toBe(true);
    expect(insidePolygon(1, 9, L)).toBe(true);
    expect(insidePolygon(5, 5, L)).toBe(false);
    expect(insidePolygon(11, 1, L)).toBe(false);
  });

  it('fit frames every point; a box selects exactly the points inside it', () => {
    const s = new Scatter(fakeCanvas());
    s.resize(200, 100, 1);
    const pts = new Float32Array([-1, -1, 1, 1, 0, 0, 0.9, -0.9]);
    s.setData(pts, new Uint32Array(4));
    s.fit();
    for (let i = 0; i < 4; i++) {
      const [x, y] = s.screenOf(i);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(200);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(100);
    }
    // Screen y grows downwards: data (1, 1) is top-right, (0.9, -0.9) bottom-right.
    expect(s.selectPolygon(boxPolygon(110, 0, 200, 100)).sort()).toEqual([1, 3]); // (0, 0) sits at x = 100
    expect(s.selectPolygon(boxPolygon(0, 0, 200, 100)).length).toBe(4);
    const [cx, cy] = s.screenOf(2);
    expect(s.hitTest(cx + 2, cy + 1)).toBe(2);
    expect(s.hitTest(cx - 20, cy + 20, 3)).toBe(-1);
  });

  it('zoomAt keeps the point under the cursor fixed; pan moves everything', () => {
    const s = new Scatter(fakeCanvas());
    s.resize(200, 100, 1);
    s.setData(new Float32Array([0.3, 0.2, -0.5, 0.4]), new Uint32Array(2));
    s.fit();
    const before = s.screenOf(0);
    s.zoomAt(before[0], before[1], 3);
    const after = s.screenOf(0);
    expect(after[0]).toBeCloseTo(before[0], 6);
    expect(after[1]).toBeCloseTo(before[1], 6);
    const b1 = s.screenOf(1);
    s.pan(10, -5);
    const a1 = s.screenOf(1);
    expect(a1[0] - b1[0]).toBeCloseTo(10, 6);
    expect(a1[1] - b1[1]).toBeCloseTo(-5, 6);
  });
});

describe('grid hand-offs', () => {
  it('a confusion cell becomes given + suggested, the OOD column the OOD view', () => {
    expect(cellFilter('coat', 'shirt')).toMatchObject({
      view: 'all',
      given: 'coat',
      suggested: 'shirt',
      ids: undefined,
    });
    expect(cellFilter('coat', null)).toMatchObject({ view: 'ood', given: 'coat', suggested: undefined });
  });
  it('a selection replaces every other filter', () => {
    const f = gridFilter({ ids: [3, 5] });
    expect(f).toMatchObject({
      view: 'all',
      ids: [3, 5],
      given: undefined,
      search: undefined,
      minConfidence: undefined,
    });
  });
});
