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

/** The patches a conv with a kh x kw filter, stride (sh, sw) and padding (top, left) reads, one row per filter tap
 *  and channel: x [B,H,W,C] -> [kh*kw*C, B*h*w] with out[(ki,kj,c), (b,i,j)] = x[b, i*sh+ki-top, j*sw+kj-left, c]
 *  (0 in the padding). The left operand of the filter gradient as one matMul (dy [B*h*w, Co], as it lies, is the
 *  right one); its rows are in the filter's [kh,kw,C] order. */
export function patchRows(
  backend: BackendWasm,
  x: TensorInfo,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  top: number,
  left: number,
  h: number,
  w: number,
): TensorInfo {
  const [B, H, W, C] = x.shape;
  const n = B * h * w;
  const out = backend.makeOutput([kh * kw * C, n], 'float32');
  const src = heapF32(backend, x),
    dst = heapF32(backend, out);
  let r = 0;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++, r++)
        for (let ki = 0; ki < kh; ki++) {
          const y = i * sh + ki - top;
          for (let kj = 0; kj < kw; kj++) {
            const xx = j * sw + kj - left;
            let d = (ki * kw + kj) * C * n + r;
            if (y < 0 || y >= H || xx < 0 || xx >= W) {
              for (let c = 0; c < C; c++, d += n) dst[d] = 0;
              continue;
            }
            const s0 = ((b * H + y) * W + xx) * C;
            for (let c = 0; c < C; c++, d += n) dst[d] = src[s0 + c];
          }
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
