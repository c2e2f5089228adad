// A canvas scatter plot for up to a few hundred thousand points: every frame writes the points
// straight into one reused ImageData (a Uint32 view, one write per pixel), so 100k points cost a
// couple of milliseconds instead of 100k fillRect calls. Prototypes, the hover ring and the lasso
// are vector overlays on top. No Vue here: the bench drives this module in a bare page.

export interface Prototype {
  label: string;
  x: number;
  y: number;
  color: number;
}

/** 0xAARRGGBB -> the byte order ImageData wants on little-endian machines (ABGR in a Uint32). */
export function toPixel(argb: number): number {
  const a = (argb >>> 24) & 255,
    r = (argb >>> 16) & 255,
    g = (argb >>> 8) & 255,
    b = argb & 255;
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

export const cssColor = (argb: number): string => `#${(argb & 0xffffff).toString(16).padStart(6, '0')}`;

/** Even-odd point-in-polygon test (polygon as x0,y0,x1,y1,...). */
export function insidePolygon(px: number, py: number, poly: ArrayLike<number>): boolean {
  let inside = false;
  const m = poly.length / 2;
  for (let i = 0, j = m - 1; i < m; j = i++) {
    const xi = poly[i * 2],
      yi = poly[i * 2 + 1],
      xj = poly[j * 2],
      yj = poly[j * 2 + 1];
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export class Scatter {
  private ctx: CanvasRenderingContext2D;
  private image: ImageData | null = null;
  private pixels: Uint32Array | null = null;
  private points: Float32Array = new Float32Array(0);
  private colors: Uint32Array = new Uint32Array(0); // pixel order (toPixel)
  private selected: Uint8Array | null = null;
  private protos: Prototype[] = [];
  /** data -> screen: sx = x * scale + tx, sy = -y * scale + ty (y up, like a chart). */
  scale = 1;
  tx = 0;
  ty = 0;
  width = 0; //  device pixels
  height = 0;
  dpr = 1;
  background = 0xffffffff;
  hover = -1;
  lasso: number[] | null = null; // screen polygon in CSS pixels while drawing
  /** Points drawn in the last frame (inside the canvas). */
  drawn = 0;

  constructor(readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('canvas 2D context unavailable');
    this.ctx = ctx;
  }

  get count(): number {
    return this.points.length / 2;
  }

  /** Canvas size in CSS pixels; the backing store follows devicePixelRatio. */
  resize(cssW: number, cssH: number, dpr = 1): void {
    const w = Math.max(1, Math.round(cssW * dpr)),
      h = Math.max(1, Math.round(cssH * dpr));
    if (w === this.width && h === this.height && dpr === this.dpr) return;
    const old = { w: this.width, h: this.height, dpr: this.dpr };
    this.width = w;
    this.height = h;
    this.dpr = dpr;
    this.canvas.width = w;
    this.canvas.height = h;
    this.image = this.ctx.createImageData(w, h);
    this.pixels = new Uint32Array(this.image.data.buffer);
    // Keep the centre where it was.
    if (old.w) {
      this.tx += (w - old.w) / 2;
      this.ty += (h - old.h) / 2;
      this.scale *= dpr / old.dpr;
    }
  }

  setData(points: Float32Array, colors: Uint32Array, protos: Prototype[] = []): void {
    this.points = points;
    this.colors = colors;
    this.protos = protos;
    this.selected = null;
    this.hover = -1;
  }

  setColors(colors: Uint32Array, protos: Prototype[] = this.protos): void {
    this.colors = colors;
    this.protos = protos;
  }
  setSelected(sel: Uint8Array | null): void {
    this.selected = sel;
  }

  /** Frames every point (and prototype) with a margin. */
  fit(): void {
    let x0 = Infinity,
      x1 = -Infinity,
      y0 = Infinity,
      y1 = -Infinity;
    const p = this.points;
    for (let i = 0; i < p.length; i += 2) {
      const x = p[i],
        y = p[i + 1];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    for (const q of this.protos) {
      x0 = Math.min(x0, q.x);
      x1 = Math.max(x1, q.x);
      y0 = Math.min(y0, q.y);
      y1 = Math.max(y1, q.y);
    }
    if (!Number.isFinite(x0)) {
      x0 = -1;
      x1 = 1;
      y0 = -1;
      y1 = 1;
    }
    const w = Math.max(x1 - x0, 1e-6),
      h = Math.max(y1 - y0, 1e-6);
    this.scale = Math.min(this.width / w, this.height / h) * 0.9;
    this.tx = this.width / 2 - ((x0 + x1) / 2) * this.scale;
    this.ty = this.height / 2 + ((y0 + y1) / 2) * this.scale;
  }

  /** Pan by CSS pixels. */
  pan(dx: number, dy: number): void {
    this.tx += dx * this.dpr;
    this.ty += dy * this.dpr;
  }

  /** Zoom by `factor` keeping the data point under (cssX, cssY) fixed. */
  zoomAt(cssX: number, cssY: number, factor: number): void {
    const sx = cssX * this.dpr,
      sy = cssY * this.dpr;
    const f = Math.min(1e6, Math.max(1e-6, this.scale * factor)) / this.scale;
    this.tx = sx - (sx - this.tx) * f;
    this.ty = sy - (sy - this.ty) * f;
    this.scale *= f;
  }

  screenOf(i: number): [number, number] {
    return [
      (this.points[i * 2] * this.scale + this.tx) / this.dpr,
      (-this.points[i * 2 + 1] * this.scale + this.ty) / this.dpr,
    ];
  }

  draw(): void {
    const px = this.pixels,
      img = this.image;
    if (!px || !img) return;
    px.fill(toPixel(this.background));
    const { width: w, height: h, scale, tx, ty, points: p, colors } = this;
    // Fewer points read better bigger; 100k stay at 2 px so clusters keep their density.
    const n0 = this.points.length / 2;
    const size = (n0 < 3000 ? 5 : n0 < 30_000 ? 4 : 2) + (this.dpr >= 2 ? 1 : 0);
    let drawn = 0;
    const n = p.length / 2;
    for (let i = 0; i < n; i++) {
      const sx = (p[i * 2] * scale + tx) | 0;
      const sy = (-p[i * 2 + 1] * scale + ty) | 0;
      if (sx < 0 || sy < 0 || sx > w - size || sy > h - size) continue;
      const c = colors[i];
      let o = sy * w + sx;
      for (let r = 0; r < size; r++, o += w) for (let k = 0; k < size; k++) px[o + k] = c;
      drawn++;
    }
    const sel = this.selected;
    if (sel) {
      // Selected points on top, larger, ringed in near-black so they read on any colour.
      const dark = toPixel(0xff111111);
      for (let i = 0; i < n; i++) {
        if (!sel[i]) continue;
        const sx = (p[i * 2] * scale + tx) | 0,
          sy = (-p[i * 2 + 1] * scale + ty) | 0;
        if (sx < 1 || sy < 1 || sx > w - size - 1 || sy > h - size - 1) continue;
        let o = (sy - 1) * w + sx - 1;
        for (let r = 0; r < size + 2; r++, o += w) for (let k = 0; k < size + 2; k++) px[o + k] = dark;
        if (size > 2) {
          // keep the class colour visible inside the dark ring
          o = (sy + 1) * w + sx + 1;
          for (let r = 0; r < size - 2; r++, o += w) for (let k = 0; k < size - 2; k++) px[o + k] = colors[i];
        }
      }
    }
    this.drawn = drawn;
    this.ctx.putImageData(img, 0, 0);
    this.drawOverlays();
  }

  private drawOverlays(): void {
    const ctx = this.ctx,
      d = this.dpr;
    ctx.save();
    ctx.lineWidth = 1.5 * d;
    ctx.font = `${11 * d}px system-ui, sans-serif`;
    for (const q of this.protos) {
      const sx = q.x * this.scale + this.tx,
        sy = -q.y * this.scale + this.ty;
      const r = 7 * d;
      ctx.beginPath();
      ctx.moveTo(sx, sy - r);
      ctx.lineTo(sx + r, sy);
      ctx.lineTo(sx, sy + r);
      ctx.lineTo(sx - r, sy);
      ctx.closePath();
      ctx.fillStyle = cssColor(q.color);
      ctx.strokeStyle = '#111';
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = '#111';
      ctx.strokeStyle = 'rgba(255,255,255,0.85)';
      ctx.lineWidth = 3 * d;
      ctx.strokeText(q.label, sx + r + 3 * d, sy + 4 * d);
      ctx.fillText(q.label, sx + r + 3 * d, sy + 4 * d);
      ctx.lineWidth = 1.5 * d;
    }
    if (this.hover >= 0 && this.hover < this.count) {
      const [hx, hy] = this.screenOf(this.hover);
      ctx.beginPath();
      ctx.arc(hx * d, hy * d, 6 * d, 0, Math.PI * 2);
      ctx.strokeStyle = '#111';
      ctx.stroke();
    }
    if (this.lasso && this.lasso.length >= 4) {
      ctx.beginPath();
      ctx.moveTo(this.lasso[0] * d, this.lasso[1] * d);
      for (let i = 2; i < this.lasso.length; i += 2) ctx.lineTo(this.lasso[i] * d, this.lasso[i + 1] * d);
      ctx.closePath();
      ctx.fillStyle = 'rgba(37,99,235,0.12)';
      ctx.strokeStyle = '#2563eb';
      ctx.setLineDash([5 * d, 4 * d]);
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }

  /** Nearest point within `radius` CSS pixels of (cssX, cssY), or -1. */
  hitTest(cssX: number, cssY: number, radius = 6): number {
    const sx = cssX * this.dpr,
      sy = cssY * this.dpr,
      r2 = (radius * this.dpr) ** 2;
    const { scale, tx, ty, points: p } = this;
    let best = -1,
      bd = r2;
    for (let i = 0; i < p.length / 2; i++) {
      const dx = p[i * 2] * scale + tx - sx,
        dy = -p[i * 2 + 1] * scale + ty - sy;
      const dd = dx * dx + dy * dy;
      if (dd <= bd) {
        bd = dd;
        best = i;
      }
    }
    return best;
  }

  /** Indices of the points inside a screen polygon (CSS pixels). */
  selectPolygon(poly: ArrayLike<number>): number[] {
    let x0 = Infinity,
      x1 = -Infinity,
      y0 = Infinity,
      y1 = -Infinity;
    for (let i = 0; i < poly.length; i += 2) {
      x0 = Math.min(x0, poly[i]);
      x1 = Math.max(x1, poly[i]);
      y0 = Math.min(y0, poly[i + 1]);
      y1 = Math.max(y1, poly[i + 1]);
    }
    const out: number[] = [];
    const { scale, tx, ty, points: p, dpr } = this;
    for (let i = 0; i < p.length / 2; i++) {
      const sx = (p[i * 2] * scale + tx) / dpr,
        sy = (-p[i * 2 + 1] * scale + ty) / dpr;
      if (sx < x0 || sx > x1 || sy < y0 || sy > y1) continue;
      if (insidePolygon(sx, sy, poly)) out.push(i);
    }
    return out;
  }
}

/** A box as the polygon selectPolygon takes. */
export const boxPolygon = (x0: number, y0: number, x1: number, y1: number): number[] => [
  x0,
  y0,
  x1,
  y0,
  x1,
  y1,
  x0,
  y1,
];
