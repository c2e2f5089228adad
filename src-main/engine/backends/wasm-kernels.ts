// Kernels that make @tensorflow/tfjs-backend-wasm 4.22 train conv nets, and train them faster.
// Based on shared/reference/wasm-conv-grad.mjs, re-measured here: the shipped wasm backend lacks
// Conv2DBackpropFilter entirely, and its strided Conv2DBackpropInput is a slow scalar loop. Both are
// rewritten on top of the backend's own XNNPACK Conv2D / MatMul, which run at 10-17 GFLOPS here,
// whereas `matMul` with transpose flags falls off the fast path (~1.5 GFLOPS): transpose explicitly.
import * as tf from '@tensorflow/tfjs';

type KernelFunc = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => tf.TensorInfo;
interface WasmBackendLike {
  disposeData(id: unknown): void;
  readSync(id: unknown): unknown;
  makeOutput(shape: number[], dtype: 'float32', memoryOffset?: number, values?: Float32Array): tf.TensorInfo;
}

function kernel(name: string): KernelFunc {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel ${name} missing`);
  return k.kernelFunc as unknown as KernelFunc;
}

/** dW[i,j,c,o] = sum_{b,h,w} xpad[b, h*s+i, w*s+j, c] * dy[b,h,w,o]
 *  = Conv2D(x^T [Ci,H,W,B], filter = dy^T [Ho,Wo,B,Co], stride 1, dilation s) -> [Ci,kh,kw,Co] -> transpose.
 *  (shared/reference/wasm-conv-grad.mjs.) Measured here against an im2col GEMM: this runs at forward-conv
 *  speed (138 ms vs 790 ms for 128x14x14x64 -> 64), because Slice/Concat are JS loops in this backend. */
export function registerConv2DBackpropFilter(): void {
  const T = kernel('Transpose'),
    C = kernel('Conv2D'),
    S = kernel('Slice');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (({
      inputs,
      backend,
      attrs,
    }: {
      inputs: tf.NamedTensorInfoMap;
      backend: WasmBackendLike;
      attrs: tf.NamedAttrMap;
    }) => {
      let { x } = inputs as { x: tf.TensorInfo };
      const { dy } = inputs as { dy: tf.TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
        strides: [number, number] | number;
        pad: 'same' | 'valid' | number;
        dataFormat: string;
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        filterShape: [number, number, number, number];
      };
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
      const sh = info.strideHeight,
        sw = info.strideWidth;
      const { top, left } = info.padInfo;
      const [kh, kw] = filterShape;
      const [, Ho, Wo] = dy.shape;
      let [B, H, W, Ci] = x.shape;
      const tmp: tf.TensorInfo[] = [];
      // rows/cols of x never touched by the conv (VALID with leftover): slice them off
      const needH = (Ho - 1) * sh + kh - top,
        needW = (Wo - 1) * sw + kw - left;
      if (needH < H || needW < W) {
        const nh = Math.min(H, needH),
          nw = Math.min(W, needW);
        x = S({ inputs: { x }, backend: backend as never, attrs: { begin: [0, 0, 0, 0], size: [B, nh, nw, Ci] } });
        tmp.push(x);
        H = nh;
        W = nw;
      }
      const bottom = kh + (Ho - 1) * sh - H - top;
      const right = kw + (Wo - 1) * sw - W - left;
      const xT = T({ inputs: { x }, backend: backend as never, attrs: { perm: [3, 1, 2, 0] } });
      const dyT = T({ inputs: { x: dy }, backend: backend as never, attrs: { perm: [1, 2, 0, 3] } });
      const out = C({
        inputs: { x: xT, filter: dyT },
        backend: backend as never,
        attrs: {
          strides: [1, 1],
          dilations: [sh, sw],
          dataFormat: 'NHWC',
          pad: [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ] as never,
        },
      });
      const res = T({ inputs: { x: out }, backend: backend as never, attrs: { perm: [1, 2, 0, 3] } });
      for (const t of [...tmp, xT, dyT, out]) backend.disposeData(t.dataId);
      void B;
      return res;
    }) as never,
  });
}

/** Conv2DBackpropInput through XNNPACK Conv2D with the flipped, transposed filter. Stride s>1 is done
 *  by dilating dy with zeros first (s^2 more MACs, but on the fast path: far quicker than the stock loop). */
export function registerConv2DBackpropInputFast(): void {
  const orig = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!orig) throw new Error('wasm kernel Conv2DBackpropInput missing');
  const T = kernel('Transpose'),
    Rv = kernel('Reverse'),
    C = kernel('Conv2D'),
    P = kernel('PadV2'),
    R = kernel('Reshape'),
    Sl = kernel('Slice');
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    ...orig,
    kernelFunc: ((args: { inputs: tf.NamedTensorInfoMap; backend: WasmBackendLike; attrs: tf.NamedAttrMap }) => {
      const { inputs, backend, attrs } = args;
      const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as {
        strides: [number, number] | number;
        pad: 'same' | 'valid' | number;
        dataFormat: string;
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        inputShape: [number, number, number, number];
      };
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
        return orig.kernelFunc(args as never) as tf.TensorInfo;
      const sh = info.strideHeight,
        sw = info.strideWidth;
      const [kh, kw] = filter.shape;
      const [B, H, W, Ci] = inputShape;
      const [, Ho, Wo, Co] = dy.shape;
      const { top, left } = info.padInfo;
      const tmp: tf.TensorInfo[] = [];
      if ((sh > 1 || sw > 1) && sh === sw && H % sh === 0 && W % sw === 0) {
        const r = subPixelInputGrad(dy, filter, backend, sh, kh, kw, top, left, H, W, Ci, Co);
        if (r) return r;
      }
      let d = dy;
      if (sh > 1 || sw > 1) {
        // zero-dilate: [B,Ho,1,Wo,1,Co] -> pad -> [B,Ho*sh,Wo*sw,Co]; trailing zeros are cropped by the padding below
        const r6 = R({ inputs: { x: dy }, backend: backend as never, attrs: { shape: [B, Ho, 1, Wo, 1, Co] } });
        const p6 = P({
          inputs: { x: r6 },
          backend: backend as never,
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
        d = R({ inputs: { x: p6 }, backend: backend as never, attrs: { shape: [B, Ho * sh, Wo * sw, Co] } });
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
        src = Sl({
          inputs: { x: d },
          backend: backend as never,
          attrs: { begin: [0, ct, cl, 0], size: [B, Hd - ct - cb, Wd - cl - cr, Co] },
        });
        tmp.push(src);
      }
      const padArr = [
        [0, 0],
        [Math.max(0, pt), Math.max(0, pb)],
        [Math.max(0, pl), Math.max(0, pr)],
        [0, 0],
      ];
      const fT = T({ inputs: { x: filter }, backend: backend as never, attrs: { perm: [0, 1, 3, 2] } });
      const fR = Rv({ inputs: { x: fT }, backend: backend as never, attrs: { dims: [0, 1] } });
      const out = C({
        inputs: { x: src, filter: fR },
        backend: backend as never,
        attrs: { strides: [1, 1], dilations: [1, 1], dataFormat: 'NHWC', pad: padArr as never },
      });
      for (const t of [...tmp, fT, fR]) backend.disposeData(t.dataId);
      if (out.shape[1] !== H || out.shape[2] !== W || out.shape[3] !== Ci)
        throw new Error(`Conv2DBackpropInput shape ${out.shape} != ${inputShape}`);
      return out;
    }) as never,
  });
}

/** FusedBatchNorm gradient without tiling 1/sqrt(var) to x's full shape (stock tfjs-core 4.22
 *  does; broadcasting gives the same numbers with fewer full-size tensors). Backend-agnostic. */
export function registerBroadcastBatchNormGrad(): void {
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const g = dy as tf.Tensor;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
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
  });
}

/** BatchMatMul with transpose flags leaves XNNPACK's fast path (measured 1.5 vs 16 GFLOPS): transpose the
 *  operand explicitly first. Matters for every Dense-layer gradient and the queue logits. */
export function registerFastTransposedMatMul(): void {
  const orig = tf.getKernel('BatchMatMul', 'wasm');
  if (!orig) throw new Error('wasm kernel BatchMatMul missing');
  const T = kernel('Transpose');
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    ...orig,
    kernelFunc: ((args: { inputs: tf.NamedTensorInfoMap; backend: WasmBackendLike; attrs: tf.NamedAttrMap }) => {
      const { inputs, backend, attrs } = args;
      let { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return orig.kernelFunc(args as never) as tf.TensorInfo;
      const tmp: tf.TensorInfo[] = [];
      const swapLast = (t: tf.TensorInfo) => {
        const r = t.shape.length,
          perm = [...Array(r).keys()];
        perm[r - 2] = r - 1;
        perm[r - 1] = r - 2;
        const o = T({ inputs: { x: t }, backend: backend as never, attrs: { perm } });
        tmp.push(o);
        return o;
      };
      if (transposeA) a = swapLast(a);
      if (transposeB) b = swapLast(b);
      const out = orig.kernelFunc({
        inputs: { a, b },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      } as never) as tf.TensorInfo;
      for (const t of tmp) backend.disposeData(t.dataId);
      return out;
    }) as never,
  });
}

/** Tap layout of one spatial dimension for the sub-pixel input gradient: for output parity r, the filter
 *  taps i with (i - r - pad) divisible by s contribute dy[u - j], j = (i - r - pad) / s. */
function subPixelTaps(k: number, s: number, pad: number) {
  const taps: { r: number; i: number; j: number }[] = [];
  for (let r = 0; r < s; r++)
    for (let i = 0; i < k; i++) {
      const t = i - r - pad;
      if (((t % s) + s) % s === 0) taps.push({ r, i, j: t / s });
    }
  const jmin = Math.min(...taps.map((t) => t.j)),
    jmax = Math.max(...taps.map((t) => t.j));
  return { taps, jmin, jmax, L: jmax - jmin + 1 };
}

/**
 * Input gradient of a stride-s conv without the s^2 zero-dilation waste: all s*s output parities come
 * from ONE stride-1 conv of dy with a combined filter [L,L,Co,s*s*Ci] (each parity's sub-filter, flipped),
 * then DepthToSpace interleaves them (out[s*u+rh, s*v+rw] = parity (rh,rw) at [u,v]). For 3x3/2 this is
 * 16/9 of the minimal MACs instead of 4x. Returns null when the layout needs cropping (fallback path).
 */
function subPixelInputGrad(
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  backend: WasmBackendLike,
  s: number,
  kh: number,
  kw: number,
  top: number,
  left: number,
  H: number,
  W: number,
  Ci: number,
  Co: number,
): tf.TensorInfo | null {
  const th = subPixelTaps(kh, s, top),
    tw = subPixelTaps(kw, s, left);
  const [B, Ho, Wo] = dy.shape;
  const Hr = H / s,
    Wr = W / s;
  const padT = th.jmax,
    padB = Hr - Ho - th.jmax + th.L - 1;
  const padL = tw.jmax,
    padR = Wr - Wo - tw.jmax + tw.L - 1;
  if (padT < 0 || padB < 0 || padL < 0 || padR < 0 || !th.taps.length || !tw.taps.length) return null;
  const w = backend.readSync(filter.dataId) as Float32Array; // [kh,kw,Ci,Co]
  const OC = s * s * Ci;
  const F = new Float32Array(th.L * tw.L * Co * OC);
  for (const a of th.taps)
    for (const b of tw.taps) {
      const kH = th.jmax - a.j,
        kW = tw.jmax - b.j,
        ch0 = (a.r * s + b.r) * Ci;
      for (let ci = 0; ci < Ci; ci++)
        for (let co = 0; co < Co; co++) {
          F[((kH * tw.L + kW) * Co + co) * OC + ch0 + ci] = w[((a.i * kw + b.i) * Ci + ci) * Co + co];
        }
    }
  const f = backend.makeOutput([th.L, tw.L, Co, OC], 'float32', undefined, F);
  const C = kernel('Conv2D'),
    R = kernel('Reshape'),
    T = kernel('Transpose');
  const y = C({
    inputs: { x: dy, filter: f },
    backend: backend as never,
    attrs: {
      strides: [1, 1],
      dilations: [1, 1],
      dataFormat: 'NHWC',
      pad: [
        [0, 0],
        [padT, padB],
        [padL, padR],
        [0, 0],
      ] as never,
    },
  });
  // interleave parities (DepthToSpace semantics) with reshape + transpose: the wasm DepthToSpace kernel
  // measured 181 ms vs 11 ms for this on 128x14x14x128
  const y6 = R({ inputs: { x: y }, backend: backend as never, attrs: { shape: [B, Hr, Wr, s, s, Ci] } });
  const t6 = T({ inputs: { x: y6 }, backend: backend as never, attrs: { perm: [0, 1, 3, 2, 4, 5] } });
  const out = R({ inputs: { x: t6 }, backend: backend as never, attrs: { shape: [B, H, W, Ci] } });
  for (const t of [f, y, y6, t6]) backend.disposeData(t.dataId);
  return out;
}

let registered = false;
/** Idempotent: registers every wasm training kernel once per thread. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registerConv2DBackpropFilter();
  registerConv2DBackpropInputFast();
  registerBroadcastBatchNormGrad();
  registerFastTransposedMatMul();
  registered = true;
}
