// Layout changes the conv gradients need, written in JS straight on the wasm heap. tfjs-backend-wasm 4.22's
// Transpose walks the output in order and reads with the input's strides: for NHWC -> CHWN at 128x64x64x32 every
// read misses the cache (measured 240 ms, vs 49 ms here). Its Slice copies the whole input out of the heap first,
// and strided Slice / StridedSlice are JS loops as well, so cropping and subsampling are folded in here too.
import type { TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** A float32 view of a tensor's heap memory; take it after the last allocation (memory growth detaches views). */
function heapF32(backend: BackendWasm, t: TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`heap relayout: float32 only, got ${t.dtype}`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/**
 * x [B,H,W,C] -> [C,h,w,n] with out[c,i,j,b] = x[b0+b,i,j,c] for i < h, j < w and the n images from b0 (the
 * top-left h x w window: the rows and columns a VALID conv never reaches are dropped). Four channels per pass,
 * reading along the batch: for one pixel the n input rows stay in L1 while whole output rows are written in order.
 */
export function channelsFirstBatchLast(
  backend: BackendWasm,
  x: TensorInfo,
  h: number,
  w: number,
  b0 = 0,
  n = x.shape[0] - b0,
): TensorInfo {
  const [B, H, W, C] = x.shape;
  if (h > H || w > W) throw new Error(`channelsFirstBatchLast: window ${h}x${w} exceeds ${H}x${W}`);
  if (b0 < 0 || n < 1 || b0 + n > B) throw new Error(`channelsFirstBatchLast: images [${b0}, ${b0 + n}) of ${B}`);
  const out = backend.makeOutput([C, h, w, n], 'float32');
  const src = heapF32(backend, x),
    dst = heapF32(backend, out);
  const inB = H * W * C, // input stride between images
    plane = h * w * n; //    output stride between channels
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const s0 = b0 * inB + (i * W + j) * C,
        d0 = (i * w + j) * n;
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const e0 = d0 + c * plane,
          e1 = e0 + plane,
          e2 = e1 + plane,
          e3 = e2 + plane;
        for (let b = 0, s = s0 + c; b < n; b++, s += inB) {
          dst[e0 + b] = src[s];
          dst[e1 + b] = src[s + 1];
          dst[e2 + b] = src[s + 2];
          dst[e3 + b] = src[s + 3];
        }
      }
      for (; c < C; c++) {
        const e = d0 + c * plane;
        for (let b = 0, s = s0 + c; b < n; b++, s += inB) dst[e + b] = src[s];
      }
    }
  return out;
}

/** y [B,h,w,C] -> [h,w,n,C] with out[i,j,b,c] = y[b0+b,i,j,c]: n images from b0 with the batch moved inside the
 *  pixel, as the filter gradient's conv takes dy for its filter. Whole C-channel runs are copied at once. */
export function batchInsidePixel(backend: BackendWasm, y: TensorInfo, b0: number, n: number): TensorInfo {
  const [B, h, w, C] = y.shape;
  if (b0 < 0 || n < 1 || b0 + n > B) throw new Error(`batchInsidePixel: images [${b0}, ${b0 + n}) of ${B}`);
  const out = backend.makeOutput([h, w, n, C], 'float32');
  const src = heapF32(backend, y),
    dst = heapF32(backend, out);
  const img = h * w * C;
  for (let b = 0; b < n; b++) {
    const s0 = (b0 + b) * img;
    for (let p = 0; p < h * w; p++) {
      const s = s0 + p * C;
      dst.set(src.subarray(s, s + C), (p * n + b) * C);
    }
  }
  return out;
}

/** A conv's filter size, stride and the padding before its first row and column. */
export interface ConvGeometry {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** How many parity planes along rows and columns the filter taps read: tap ki reads parity ki % sh. */
function parities(g: ConvGeometry): [number, number] {
  return [Math.min(g.kh, g.sh), Math.min(g.kw, g.sw)];
}

/**
 * The parity planes a conv with stride (sh, sw) and padding (top, left) reads, channel-major:
 * x [B,H,W,C] -> [C, ph*pw, n, hq, wq] with out[c, pr*pw + pc, b, h, w] = x[b0+b, sh*h + pr - top, sw*w + pc - left, c]
 * (0 outside x). Filter tap (ki, kj) reads plane (ki % sh, kj % sw) from row floor(ki / sh), column floor(kj / sw), so
 * each tap's patches of one channel in one image are a window of one plane; ph = min(kh, sh) and pw = min(kw, sw)
 * planes are the ones some tap reads. Each input pixel's C channels are read once, in order.
 */
export function parityPlanes(
  backend: BackendWasm,
  x: TensorInfo,
  conv: ConvGeometry,
  hq: number,
  wq: number,
  b0: number,
  n: number,
): TensorInfo {
  const [B, H, W, C] = x.shape;
  const { sh, sw, top, left } = conv;
  const [ph, pw] = parities(conv);
  if (b0 < 0 || n < 1 || b0 + n > B) throw new Error(`parityPlanes: images [${b0}, ${b0 + n}) of ${B}`);
  const out = backend.makeOutput([C, ph * pw, n, hq, wq], 'float32');
  const src = heapF32(backend, x),
    dst = heapF32(backend, out);
  const plane = ph * pw * n * hq * wq; // output stride between channels
  for (let p = 0; p < ph * pw; p++) {
    const pr = Math.floor(p / pw),
      pc = p % pw;
    for (let b = 0; b < n; b++)
      for (let h = 0; h < hq; h++) {
        const y = sh * h + pr - top;
        const d0 = ((p * n + b) * hq + h) * wq;
        if (y < 0 || y >= H) {
          for (let c = 0; c < C; c++) dst.fill(0, d0 + c * plane, d0 + c * plane + wq);
          continue;
        }
        const row = ((b0 + b) * H + y) * W;
        for (let w = 0; w < wq; w++) {
          const xx = sw * w + pc - left;
          if (xx < 0 || xx >= W) {
            for (let c = 0, d = d0 + w; c < C; c++, d += plane) dst[d] = 0;
            continue;
          }
          for (let c = 0, s = (row + xx) * C, d = d0 + w; c < C; c++, d += plane) dst[d] = src[s + c];
        }
      }
  }
  return out;
}

/**
 * The filter gradient's left operand from parityPlanes' output: [C, ph*pw, n, hq, wq] -> [kh*kw*C, n*ho*wq], row
 * (ki*kw + kj)*C + c being tap (ki, kj)'s patches of channel c, column (b*ho + i)*wq + j being output pixel (i, j) of
 * image b. As the columns run over whole plane rows (wq wide), each image's patches are one copy of ho*wq floats;
 * the columns j >= wo that this adds (and that may run into the plane's next row) meet zero rows of dy (pixelRows).
 */
export function tapRows(backend: BackendWasm, planes: TensorInfo, conv: ConvGeometry, ho: number): TensorInfo {
  const [C, np, n, hq, wq] = planes.shape;
  const { kh, kw, sh, sw } = conv;
  const [ph, pw] = parities(conv);
  if (np !== ph * pw) throw new Error(`tapRows: ${np} planes, the taps read ${ph * pw}`);
  const len = ho * wq,
    img = hq * wq;
  if ((Math.floor((kh - 1) / sh) + ho) * wq + Math.floor((kw - 1) / sw) > img)
    throw new Error(`tapRows: ${ho} rows from a ${hq}x${wq} plane overrun it`);
  const out = backend.makeOutput([kh * kw * C, n * len], 'float32');
  // copyWithin on one view of the whole heap: TypedArray.set between two views of one buffer copies the source
  // to a temporary first
  const src = heapF32(backend, planes),
    heap = new Float32Array(src.buffer),
    s0 = src.byteOffset / 4,
    d0 = heapF32(backend, out).byteOffset / 4;
  for (let ki = 0; ki < kh; ki++)
    for (let kj = 0; kj < kw; kj++) {
      const p = (ki % sh) * pw + (kj % sw),
        off = Math.floor(ki / sh) * wq + Math.floor(kj / sw);
      for (let c = 0; c < C; c++) {
        const s = s0 + (c * np + p) * n * img + off,
          d = d0 + ((ki * kw + kj) * C + c) * n * len;
        for (let b = 0; b < n; b++) heap.copyWithin(d + b * len, s + b * img, s + b * img + len);
      }
    }
  return out;
}

/** dy [B,ho,wo,C] -> [n*ho*wq, C] with row (b*ho + i)*wq + j = dy[b0+b, i, j] for j < wo and zeros for
 *  wo <= j < wq: the filter gradient's right operand, in tapRows' column order. One copy per image row. */
export function pixelRows(backend: BackendWasm, dy: TensorInfo, b0: number, n: number, wq: number): TensorInfo {
  const [B, ho, wo, C] = dy.shape;
  if (b0 < 0 || n < 1 || b0 + n > B) throw new Error(`pixelRows: images [${b0}, ${b0 + n}) of ${B}`);
  if (wq < wo) throw new Error(`pixelRows: ${wq} columns for ${wo}`);
  const out = backend.makeOutput([n * ho * wq, C], 'float32');
  const src = heapF32(backend, dy),
    heap = new Float32Array(src.buffer),
    d0 = heapF32(backend, out).byteOffset / 4;
  const s0 = src.byteOffset / 4 + b0 * ho * wo * C;
  if (wq === wo) heap.copyWithin(d0, s0, s0 + n * ho * wo * C);
  else
    for (let r = 0; r < n * ho; r++) {
      const d = d0 + r * wq * C;
      heap.copyWithin(d, s0 + r * wo * C, s0 + (r + 1) * wo * C);
      heap.fill(0, d + wo * C, d + wq * C);
    }
  return out;
}

/** y [B,h,w,C] -> [B,H,W,C] with out[b, i*sh, j*sw, c] = y[b,i,j,c] and zeros elsewhere: the input gradient of a
 *  1x1 stride-(sh,sw) conv (the pixels it skipped get none). */
export function strideScatter(
  backend: BackendWasm,
  y: TensorInfo,
  sh: number,
  sw: number,
  H: number,
  W: number,
): TensorInfo {
  const [B, h, w, C] = y.shape;
  if ((h - 1) * sh >= H || (w - 1) * sw >= W)
    throw new Error(`strideScatter: ${h}x${w} * ${sh}x${sw} exceeds ${H}x${W}`);
  const out = backend.makeOutput([B, H, W, C], 'float32');
  const src = heapF32(backend, y),
    dst = heapF32(backend, out);
  dst.fill(0);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const s0 = ((b * h + i) * w + j) * C,
          d0 = ((b * H + i * sh) * W + j * sw) * C;
        for (let c = 0; c < C; c++) dst[d0 + c] = src[s0 + c];
      }
  return out;
}

/** parts[rh*s + rw] [B, H/s, W/s, C] (null: all zero) -> out [B,H,W,C] with out[b, s*u+rh, s*v+rw, c] =
 *  parts[rh*s + rw][b,u,v,c]: the sub-pixel input gradient's s*s parities put back in place. */
export function interleaveParities(
  backend: BackendWasm,
  parts: (TensorInfo | null)[],
  s: number,
  B: number,
  H: number,
  W: number,
  C: number,
): TensorInfo {
  const h = H / s,
    w = W / s;
  if (parts.length !== s * s || !Number.isInteger(h) || !Number.isInteger(w))
    throw new Error(`interleaveParities: ${parts.length} parts of ${H}x${W} / ${s}`);
  const out = backend.makeOutput([B, H, W, C], 'float32');
  const dst = heapF32(backend, out);
  parts.forEach((p, k) => {
    const rh = Math.floor(k / s),
      rw = k % s;
    if (p && (p.shape[0] !== B || p.shape[1] !== h || p.shape[2] !== w || p.shape[3] !== C))
      throw new Error(`interleaveParities: part ${k} is ${p.shape}, not ${[B, h, w, C]}`);
    const src = p ? heapF32(backend, p) : null;
    for (let b = 0; b < B; b++)
      for (let u = 0; u < h; u++)
        for (let v = 0; v < w; v++) {
          const d0 = ((b * H + s * u + rh) * W + s * v + rw) * C;
          if (!src) {
            for (let c = 0; c < C; c++) dst[d0 + c] = 0;
            continue;
          }
          const s0 = ((b * h + u) * w + v) * C;
          for (let c = 0; c < C; c++) dst[d0 + c] = src[s0 + c];
        }
  });
  return out;
}
