// Kernels that make @tensorflow/tfjs-backend-wasm 4.22 train conv nets, and train them faster. The
// shipped wasm backend lacks Conv2DBackpropFilter entirely, and its strided Conv2DBackpropInput is a slow
// scalar loop. Both are rewritten on top of the backend's own XNNPACK Conv2D / MatMul, which run at
// 10-17 GFLOPS here, whereas `matMul` with transpose flags falls off the fast path (~1.5 GFLOPS):
// transpose explicitly. Written as tfjs writes its backends: a kernel function over the typed inputs and
// attrs that tfjs-core declares for the op (re-exported by @tensorflow/tfjs), registered as a KernelConfig.
import * as tf from '@tensorflow/tfjs';
import type {
  BatchMatMulAttrs,
  BatchMatMulInputs,
  BinaryInputs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropFilterInputs,
  Conv2DBackpropInputAttrs,
  Conv2DBackpropInputInputs,
  Conv2DInputs,
  FusedBatchNormAttrs,
  GradConfig,
  IdentityInputs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  PadV2Attrs,
  PadV2Inputs,
  ReshapeAttrs,
  ReshapeInputs,
  ReverseAttrs,
  ReverseInputs,
  SliceAttrs,
  SliceInputs,
  TensorInfo,
  TransposeAttrs,
  TransposeInputs,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  type ConvGeometry,
  batchInsidePixel,
  channelsFirstBatchLast,
  interleaveParities,
  parityPlanes,
  pixelRows,
  strideScatter,
  tapRows,
} from './heap-relayout';
import { maxPoolGradConfig } from './max-pool-grad';

/** A wasm kernel with its op's typed inputs and attrs (tfjs's own kernels have this signature). */
type WasmKernel<I extends NamedTensorInfoMap, A> = (args: { inputs: I; backend: BackendWasm; attrs: A }) => TensorInfo;

/** The registered wasm kernel `name`, typed by its op's inputs and attrs. */
function wasmKernel<I extends NamedTensorInfoMap, A>(name: string): WasmKernel<I, A> {
  return typedKernel(registeredKernel(name));
}

/** A registered kernel's function with its op's inputs and attrs. The cast is tfjs's own (its backends register
 *  `fn as unknown as KernelFunc`): the registry stores every kernel as the untyped KernelFunc. */
function typedKernel<I extends NamedTensorInfoMap, A>(k: KernelConfig): WasmKernel<I, A> {
  return k.kernelFunc as unknown as WasmKernel<I, A>;
}

/** The kernel registered for `name` on wasm now: the backend's own until this module replaces it. */
function registeredKernel(name: string): KernelConfig {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel ${name} missing`);
  return k;
}

/** A kernel function over typed inputs and attrs, as the registry's KernelFunc (tfjs's configs do the same). */
const asKernelFunc = <I extends NamedTensorInfoMap, A>(f: WasmKernel<I, A>): KernelFunc => f as unknown as KernelFunc;

/** An input the op declares; tfjs-core types every input as optional. */
function input(t: TensorInfo | undefined, op: string, name: string): TensorInfo {
  if (!t) throw new Error(`${op}: input ${name} missing`);
  return t;
}

const transposeKernel = () => wasmKernel<TransposeInputs, TransposeAttrs>(tf.Transpose);
const conv2DKernel = () => wasmKernel<Conv2DInputs, Conv2DAttrs>(tf.Conv2D);
const sliceKernel = () => wasmKernel<SliceInputs, SliceAttrs>(tf.Slice);
const reshapeKernel = () => wasmKernel<ReshapeInputs, ReshapeAttrs>(tf.Reshape);

/** The one Conv2D the gradient kernels call: NHWC, stride 1, explicit [before, after] padding of rows and columns,
 *  an optional dilation. */
function conv2DPadded(
  conv2D: ReturnType<typeof conv2DKernel>,
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  padH: [number, number],
  padW: [number, number],
  dilations: [number, number] = [1, 1],
): TensorInfo {
  return conv2D({
    inputs: { x, filter },
    backend,
    attrs: { strides: [1, 1], dilations, dataFormat: 'NHWC', pad: [[0, 0], padH, padW, [0, 0]] },
  });
}

/** The filter gradient has two formulations (below); the matMul one runs for 1x1 filters, for the stem (up to
 *  this many input channels) and for output maps of at least FILTER_GRAD_GEMM_PIXELS pixels, the conv one for the
 *  rest. Measured per layer on resnet-tiny at 64 px and resnet-micro at 28 px (batch 128, fresh tensors each call,
 *  alternating): the matMul one took 0.77x the conv one's time on the 64 px net (2,143 vs 2,798 ms for the seven
 *  layers; 0.54-0.97x per layer) but 1.1-1.4x on 3x3 layers of 14x14 and 7x7 outputs. */
const FILTER_GRAD_GEMM_MAX_CI = 4;
const FILTER_GRAD_GEMM_PIXELS = 256;

/** Bytes of dy per matMul of the filter gradient, so that XNNPACK packs it from the cache (it packs the right
 *  operand on every call: packing a whole 33 MB dy from memory cost ~100 ms on a 1x1 shortcut). The matMuls of the
 *  64 px net's 3x3 layers took about the same time with 512 KB - 2 MB chunks, 1.2-1.3x longer with 256 KB. */
const GEMM_CHUNK_BYTES = 2 << 20;

/** Bytes of dy per conv of the filter gradient, so that the packed filter stays in the cache. Measured on the 3x3
 *  convs of resnet-tiny at 64 px, batch 128, kernel calls alternating with the one-conv version (CPU ms summed
 *  over the four layers): 1 MB chunks 0.92x, 2 MB 1.02x, 4 MB 0.89x (twice), 8 MB 0.90-0.95x, 16 MB 0.97x. At
 *  least 8 images: fewer leave too few channels per tap for XNNPACK's inner loop. */
const CONV_CHUNK_BYTES = 4 << 20;
const CONV_CHUNK_MIN_IMAGES = 8;

/** Images per chunk of the filter gradient: chunks of about chunkBytes of dy, of equal size, at least minImages. */
export function filterGradChunk(batch: number, dyFloatsPerImage: number, chunkBytes: number, minImages = 1): number {
  const most = Math.max(minImages, Math.floor(chunkBytes / (4 * dyFloatsPerImage)));
  const chunks = Math.ceil(batch / most);
  return Math.ceil(batch / chunks);
}

/** The wasm kernels the filter gradient's formulations call. */
interface FilterGradKernels {
  backend: BackendWasm;
  matMul: WasmKernel<BatchMatMulInputs, BatchMatMulAttrs>;
  conv2D: ReturnType<typeof conv2DKernel>;
  transpose: ReturnType<typeof transposeKernel>;
  reshape: ReturnType<typeof reshapeKernel>;
  add: WasmKernel<BinaryInputs, NamedAttrMap>;
}

/** Runs part(b0, m) over chunks of m images from b0 and sums the results (each disposed once added). */
function sumOverChunks(k: FilterGradKernels, B: number, n: number, part: (b0: number, m: number) => TensorInfo) {
  let sum: TensorInfo | null = null;
  for (let b0 = 0; b0 < B; b0 += n) {
    const p = part(b0, Math.min(n, B - b0));
    if (!sum) sum = p;
    else {
      const next = k.add({ inputs: { a: sum, b: p }, backend: k.backend, attrs: {} });
      for (const t of [sum, p]) k.backend.disposeData(t.dataId);
      sum = next;
    }
  }
  if (!sum) throw new Error('Conv2DBackpropFilter: empty batch');
  return sum;
}

/** dW as one matMul per chunk of images of the patches (a row per tap and channel, tapRows) with dy (a row per
 *  output pixel, pixelRows), summed over chunks -> [kh*kw*Ci, Co], already in the filter's order. XNNPACK's GEMM
 *  packs the right operand (the dy chunk, in cache) and streams the left one at about its forward conv's speed.
 *  The patch rows come from the stride's parity planes of x (parityPlanes), where each tap's patches of a channel in
 *  one image are one contiguous window: one copy each. */
function filterGradGemm(
  k: FilterGradKernels,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
  chunkBytes?: number,
): TensorInfo {
  const { backend, reshape, matMul } = k;
  const [B, Ho, Wo, Co] = dy.shape;
  const Ci = x.shape[3];
  const { kh, kw, sh, sw } = g;
  // the planes hold the rows and columns the taps reach from the last output pixel; a tap that starts a column
  // or more to the right runs past its last plane row by that many, hence one spare row
  const oh = Math.floor((kh - 1) / sh),
    ow = Math.floor((kw - 1) / sw);
  const hq = Ho + oh + (ow > 0 ? 1 : 0),
    wq = Wo + ow;
  const n = filterGradChunk(B, Ho * wq * Co, chunkBytes ?? GEMM_CHUNK_BYTES);
  const sum = sumOverChunks(k, B, n, (b0, m) => {
    const planes = parityPlanes(backend, x, g, hq, wq, b0, m);
    // a 1x1 filter's only tap reads its plane whole (hq = Ho, wq = Wo): the planes are the patch rows
    const rows = kh * kw === 1 ? planes : tapRows(backend, planes, g, Ho);
    const dyRows = pixelRows(backend, dy, b0, m, wq);
    const a = reshape({ inputs: { x: rows }, backend, attrs: { shape: [1, kh * kw * Ci, Ho * wq * m] } });
    const b = reshape({ inputs: { x: dyRows }, backend, attrs: { shape: [1, Ho * wq * m, Co] } });
    const part = matMul({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
    for (const t of new Set([planes, rows, dyRows, a, b])) backend.disposeData(t.dataId);
    return part;
  });
  const res = reshape({ inputs: { x: sum }, backend, attrs: { shape: [kh, kw, Ci, Co] } });
  backend.disposeData(sum.dataId);
  return res;
}

/** dW = Conv2D(x^T [Ci,H,W,B], filter = dy^T [Ho,Wo,B,Co], stride 1, dilation s) -> [Ci,kh,kw,Co] -> transpose, per
 *  chunk of images, summed. x^T is built on the heap in JS (heap-relayout.ts), cropped to the rows the conv
 *  reads. */
function filterGradConv(
  k: FilterGradKernels,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
  chunkBytes?: number,
): TensorInfo {
  const { backend, conv2D, transpose } = k;
  const [B, Ho, Wo, Co] = dy.shape;
  const { kh, kw, sh, sw, top, left } = g;
  // rows/cols of x never touched by the conv (VALID with leftover) are left out of x^T
  const H = Math.min(x.shape[1], (Ho - 1) * sh + kh - top),
    W = Math.min(x.shape[2], (Wo - 1) * sw + kw - left);
  const bottom = kh + (Ho - 1) * sh - H - top,
    right = kw + (Wo - 1) * sw - W - left;
  const n = filterGradChunk(B, Ho * Wo * Co, chunkBytes ?? CONV_CHUNK_BYTES, CONV_CHUNK_MIN_IMAGES);
  const sum = sumOverChunks(k, B, n, (b0, m) => {
    const xT = channelsFirstBatchLast(backend, x, H, W, b0, m);
    const dyT = batchInsidePixel(backend, dy, b0, m);
    const part = conv2DPadded(conv2D, backend, xT, dyT, [top, bottom], [left, right], [sh, sw]);
    for (const t of [xT, dyT]) backend.disposeData(t.dataId);
    return part;
  });
  const res = transpose({ inputs: { x: sum }, backend, attrs: { perm: [1, 2, 0, 3] } });
  backend.disposeData(sum.dataId);
  return res;
}

/** The filter gradient's formulations; tests run each on every shape. */
export type FilterGradFormulation = 'gemm' | 'conv';

/** dW[i,j,c,o] = sum_{b,h,w} xpad[b, h*s+i, w*s+j, c] * dy[b,h,w,o], in whichever formulation measured faster for
 *  the layer's shape (FILTER_GRAD_GEMM_PIXELS) unless `only` names one; `chunkBytes` overrides both chunk budgets. */
export function conv2DBackpropFilterConfig(
  opts: { only?: FilterGradFormulation; chunkBytes?: number } = {},
): KernelConfig {
  const k = {
    matMul: wasmKernel<BatchMatMulInputs, BatchMatMulAttrs>(tf.BatchMatMul),
    conv2D: conv2DKernel(),
    transpose: transposeKernel(),
    reshape: reshapeKernel(),
    add: wasmKernel<BinaryInputs, NamedAttrMap>(tf.Add),
  };
  const conv2DBackpropFilter: WasmKernel<Conv2DBackpropFilterInputs, Conv2DBackpropFilterAttrs> = ({
    inputs,
    backend,
    attrs,
  }) => {
    const x = input(inputs.x, tf.Conv2DBackpropFilter, 'x');
    const dy = input(inputs.dy, tf.Conv2DBackpropFilter, 'dy');
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
    if (dataFormat && dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter: only NHWC');
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [kh, kw] = filterShape;
    const g = { kh, kw, sh: info.strideHeight, sw: info.strideWidth, top: info.padInfo.top, left: info.padInfo.left };
    const gemm =
      opts.only === 'gemm' ||
      (opts.only !== 'conv' &&
        (kh * kw === 1 ||
          x.shape[3] <= FILTER_GRAD_GEMM_MAX_CI ||
          dy.shape[1] * dy.shape[2] >= FILTER_GRAD_GEMM_PIXELS));
    return gemm
      ? filterGradGemm({ ...k, backend }, x, dy, g, opts.chunkBytes)
      : filterGradConv({ ...k, backend }, x, dy, g, opts.chunkBytes);
  };
  return { kernelName: tf.Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: asKernelFunc(conv2DBackpropFilter) };
}

/** Conv2DBackpropInput through XNNPACK Conv2D with the flipped, transposed filter. Stride s>1 is done
 *  by dilating dy with zeros first (s^2 more MACs, but on the fast path: far quicker than the stock loop).
 *  `stock` is the backend's own kernel, kept for what this one does not cover (NCHW, dilated convs). */
export function conv2DBackpropInputConfig(stock: KernelConfig): KernelConfig {
  const stockFunc = typedKernel<Conv2DBackpropInputInputs, Conv2DBackpropInputAttrs>(stock);
  const transpose = transposeKernel(),
    reverse = wasmKernel<ReverseInputs, ReverseAttrs>(tf.Reverse),
    conv2D = conv2DKernel(),
    padV2 = wasmKernel<PadV2Inputs, PadV2Attrs>(tf.PadV2),
    reshape = reshapeKernel(),
    slice = sliceKernel(),
    matMul = wasmKernel<BatchMatMulInputs, BatchMatMulAttrs>(tf.BatchMatMul);
  const conv2DBackpropInput: WasmKernel<Conv2DBackpropInputInputs, Conv2DBackpropInputAttrs> = (args) => {
    const { inputs, backend, attrs } = args;
    const dy = input(inputs.dy, tf.Conv2DBackpropInput, 'dy'),
      filter = input(inputs.filter, tf.Conv2DBackpropInput, 'filter');
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    if ((dataFormat && dataFormat !== 'NHWC') || info.dilationHeight !== 1 || info.dilationWidth !== 1)
      return stockFunc(args);
    const sh = info.strideHeight,
      sw = info.strideWidth;
    const [kh, kw] = filter.shape;
    const [B, H, W, Ci] = inputShape;
    const [, Ho, Wo, Co] = dy.shape;
    const { top, left } = info.padInfo;
    const tmp: TensorInfo[] = [];
    if (kh === 1 && kw === 1 && top === 0 && left === 0 && (sh > 1 || sw > 1)) {
      // a strided 1x1 conv (the shortcuts): dy W^T at the pixels it read, zero elsewhere; as a conv of the
      // zero-dilated or sub-pixel dy it would do s^2 times the multiply-adds
      const f2 = reshape({ inputs: { x: filter }, backend, attrs: { shape: [Ci, Co] } });
      const fT = transpose({ inputs: { x: f2 }, backend, attrs: { perm: [1, 0] } });
      const a = reshape({ inputs: { x: dy }, backend, attrs: { shape: [1, B * Ho * Wo, Co] } });
      const b = reshape({ inputs: { x: fT }, backend, attrs: { shape: [1, Co, Ci] } });
      const y = matMul({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
      const y4 = reshape({ inputs: { x: y }, backend, attrs: { shape: [B, Ho, Wo, Ci] } });
      const out = strideScatter(backend, y4, sh, sw, H, W);
      for (const t of [f2, fT, a, b, y, y4]) backend.disposeData(t.dataId);
      return out;
    }
    if ((sh > 1 || sw > 1) && sh === sw && H % sh === 0 && W % sw === 0) {
      const r = subPixelInputGrad(dy, filter, backend, sh, kh, kw, top, left, H, W, Ci, Co);
      if (r) return r;
    }
    let d = dy;
    if (sh > 1 || sw > 1) {
      // zero-dilate: [B,Ho,1,Wo,1,Co] -> pad -> [B,Ho*sh,Wo*sw,Co]; trailing zeros are cropped by the padding below
      const r6 = reshape({ inputs: { x: dy }, backend, attrs: { shape: [B, Ho, 1, Wo, 1, Co] } });
      const p6 = padV2({
        inputs: { x: r6 },
        backend,
        attrs: {
          paddings: [
            [0, 0],
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, sw - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      });
      d = reshape({ inputs: { x: p6 }, backend, attrs: { shape: [B, Ho * sh, Wo * sw, Co] } });
      tmp.push(r6, p6, d);
    }
    // full correlation of the dilated dy with the flipped filter; the output must be H x W
    const Hd = d.shape[1],
      Wd = d.shape[2];
    const pt = kh - 1 - top,
      pl = kw - 1 - left;
    const pb = H - (Hd + pt - kh + 1),
      pr = W - (Wd + pl - kw + 1);
    let src = d;
    if (pt < 0 || pl < 0 || pb < 0 || pr < 0) {
      // crop first (can happen with odd leftovers), keeping the arithmetic of the pads non-negative
      const ct = Math.max(0, -pt),
        cl = Math.max(0, -pl),
        cb = Math.max(0, -pb),
        cr = Math.max(0, -pr);
      src = slice({
        inputs: { x: d },
        backend,
        attrs: { begin: [0, ct, cl, 0], size: [B, Hd - ct - cb, Wd - cl - cr, Co] },
      });
      tmp.push(src);
    }
    const fT = transpose({ inputs: { x: filter }, backend, attrs: { perm: [0, 1, 3, 2] } });
    const fR = reverse({ inputs: { x: fT }, backend, attrs: { dims: [0, 1] } });
    const out = conv2DPadded(
      conv2D,
      backend,
      src,
      fR,
      [Math.max(0, pt), Math.max(0, pb)],
      [Math.max(0, pl), Math.max(0, pr)],
    );
    for (const t of [...tmp, fT, fR]) backend.disposeData(t.dataId);
    if (out.shape[1] !== H || out.shape[2] !== W || out.shape[3] !== Ci)
      throw new Error(`Conv2DBackpropInput shape ${out.shape} != ${inputShape}`);
    return out;
  };
  return { ...stock, kernelFunc: asKernelFunc(conv2DBackpropInput) };
}

/** FusedBatchNorm gradient without tiling 1/sqrt(var) to x's full shape (stock tfjs-core 4.22
 *  does; broadcasting gives the same numbers with fewer full-size tensors). Backend-agnostic. */
export const broadcastBatchNormGradConfig: GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: NamedAttrMap) => {
    const g = dy as tf.Tensor;
    // GradFunc hands every op's attrs over as the untyped map: FusedBatchNormAttrs, checked
    const varianceEpsilon: FusedBatchNormAttrs['varianceEpsilon'] | undefined =
      typeof attrs.varianceEpsilon === 'number' ? attrs.varianceEpsilon : undefined;
    if (varianceEpsilon === undefined) throw new Error('FusedBatchNorm gradient: no numeric varianceEpsilon attr');
    const [x, mean, variance, scale] = saved;
    const scaleValue = scale == null ? tf.scalar(1) : scale;
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const red = (t: tf.Tensor) => tf.reshape(mean.rank === 1 ? tf.sum(t, reductionAxes) : t, mean.shape);
    const xMinusMean = tf.sub(x, mean);
    const dyTimesScale = tf.mul(g, scaleValue);
    const rstd = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const minusHalfRCube = tf.mul(tf.mul(tf.mul(rstd, rstd), rstd), tf.scalar(-0.5));
    return {
      x: () => tf.reshape(tf.mul(tf.mul(g, rstd), scaleValue), x.shape),
      mean: () => red(tf.mul(tf.mul(rstd, tf.scalar(-1)), dyTimesScale)),
      variance: () => red(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)),
      scale: () => red(tf.mul(g, tf.mul(xMinusMean, rstd))),
      offset: () => red(g),
    };
  },
};

/** BatchMatMul with transpose flags leaves XNNPACK's fast path (measured 1.5 vs 16 GFLOPS): transpose the
 *  operand explicitly first. Matters for every Dense-layer gradient and the queue logits. `stock` is the
 *  backend's own kernel, which does the multiplication. */
export function transposedMatMulConfig(stock: KernelConfig): KernelConfig {
  const transpose = transposeKernel();
  const matMul = typedKernel<BatchMatMulInputs, BatchMatMulAttrs>(stock);
  const batchMatMul: WasmKernel<BatchMatMulInputs, BatchMatMulAttrs> = (args) => {
    const { inputs, backend, attrs } = args;
    let a = input(inputs.a, tf.BatchMatMul, 'a'),
      b = input(inputs.b, tf.BatchMatMul, 'b');
    if (!attrs.transposeA && !attrs.transposeB) return matMul(args);
    const tmp: TensorInfo[] = [];
    const swapLast = (t: TensorInfo) => {
      const r = t.shape.length,
        perm = [...Array(r).keys()];
      perm[r - 2] = r - 1;
      perm[r - 1] = r - 2;
      const o = transpose({ inputs: { x: t }, backend, attrs: { perm } });
      tmp.push(o);
      return o;
    };
    if (attrs.transposeA) a = swapLast(a);
    if (attrs.transposeB) b = swapLast(b);
    const out = matMul({ inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    for (const t of tmp) backend.disposeData(t.dataId);
    return out;
  };
  return { ...stock, kernelFunc: asKernelFunc(batchMatMul) };
}

/** Tap layout of one spatial dimension for the sub-pixel input gradient: for output parity r, the filter
 *  taps i with (i - r - pad) divisible by s contribute dy[u - j], j = (i - r - pad) / s. */
function subPixelTaps(k: number, s: number, pad: number, r: number) {
  const taps: { i: number; j: number }[] = [];
  for (let i = 0; i < k; i++) {
    const t = i - r - pad;
    if (((t % s) + s) % s === 0) taps.push({ i, j: t / s });
  }
  const jmin = Math.min(...taps.map((t) => t.j)),
    jmax = Math.max(...taps.map((t) => t.j));
  return { taps, jmin, jmax, L: jmax - jmin + 1 };
}

/**
 * Input gradient of a stride-s conv without the s^2 zero-dilation waste: output parity (rh, rw) (the pixels
 * out[s*u+rh, s*v+rw]) is a stride-1 conv of dy with that parity's taps of the filter, flipped; the s*s results
 * are interleaved on the heap (heap-relayout.ts). Exactly the multiply-adds of the gradient (9 taps for 3x3/2,
 * where one conv with a combined [2,2,Co,4Ci] filter did 16, and its interleave was a 6-D Transpose).
 * Returns null when a parity's layout needs cropping (fallback path).
 */
function subPixelInputGrad(
  dy: TensorInfo,
  filter: TensorInfo,
  backend: BackendWasm,
  s: number,
  kh: number,
  kw: number,
  top: number,
  left: number,
  H: number,
  W: number,
  Ci: number,
  Co: number,
): TensorInfo | null {
  const [, Ho, Wo] = dy.shape;
  const Hr = H / s,
    Wr = W / s;
  const rows = Array.from({ length: s }, (_, r) => subPixelTaps(kh, s, top, r)),
    cols = Array.from({ length: s }, (_, r) => subPixelTaps(kw, s, left, r));
  // a parity with taps reads dy[u - j] for u < Hr: the padding on each side must be >= 0
  const fits = (t: ReturnType<typeof subPixelTaps>, R: number, O: number) =>
    !t.taps.length || (t.jmax >= 0 && R - O - t.jmin >= 0);
  if (!rows.every((t) => fits(t, Hr, Ho)) || !cols.every((t) => fits(t, Wr, Wo))) return null;
  const w = backend.readSync(filter.dataId) as Float32Array; // [kh,kw,Ci,Co]
  const conv2D = conv2DKernel();
  const parts: (TensorInfo | null)[] = [];
  for (const th of rows)
    for (const tw of cols) {
      if (!th.taps.length || !tw.taps.length) {
        parts.push(null); // no tap reaches these pixels: their gradient is 0
        continue;
      }
      const F = new Float32Array(th.L * tw.L * Co * Ci);
      for (const a of th.taps)
        for (const b of tw.taps) {
          const kH = th.jmax - a.j,
            kW = tw.jmax - b.j;
          for (let ci = 0; ci < Ci; ci++)
            for (let co = 0; co < Co; co++)
              F[((kH * tw.L + kW) * Co + co) * Ci + ci] = w[((a.i * kw + b.i) * Ci + ci) * Co + co];
        }
      const f = backend.makeOutput([th.L, tw.L, Co, Ci], 'float32', undefined, F);
      parts.push(conv2DPadded(conv2D, backend, dy, f, [th.jmax, Hr - Ho - th.jmin], [tw.jmax, Wr - Wo - tw.jmin]));
      backend.disposeData(f.dataId);
    }
  const out = interleaveParities(backend, parts, s, dy.shape[0], H, W, Ci);
  for (const t of parts) if (t) backend.disposeData(t.dataId);
  return out;
}

/** Identity without a copy: the output shares the input's heap memory (the backend counts references, as its
 *  Reshape does). tfjs keeps every activation a gradient needs through Identity, so the stock copy cost 80-90 ms
 *  per 64 px training step; nothing here writes into a tensor it did not allocate, so sharing is safe. Strings
 *  (held in JS, not on the heap) stay with `stock`. */
export function sharedIdentityConfig(stock: KernelConfig): KernelConfig {
  const stockFunc = typedKernel<IdentityInputs, NamedAttrMap>(stock);
  const identity: WasmKernel<IdentityInputs, NamedAttrMap> = (args) => {
    const x = input(args.inputs.x, tf.Identity, 'x');
    if (x.dtype === 'string') return stockFunc(args);
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  return { kernelName: tf.Identity, backendName: 'wasm', kernelFunc: asKernelFunc(identity) };
}

function replaceKernel(config: KernelConfig): void {
  tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

let registered = false;
/** Idempotent: registers every wasm training kernel once per thread. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  tf.registerKernel(conv2DBackpropFilterConfig());
  replaceKernel(conv2DBackpropInputConfig(registeredKernel(tf.Conv2DBackpropInput)));
  tf.registerGradient(broadcastBatchNormGradConfig);
  replaceKernel(transposedMatMulConfig(registeredKernel(tf.BatchMatMul)));
  replaceKernel(sharedIdentityConfig(registeredKernel(tf.Identity)));
  replaceKernel(maxPoolGradConfig);
  registered = true;
}
