// MaxPoolGrad for tfjs-backend-wasm, written in JS on the wasm heap. The backend's own kernel took 585 ms for the
// ResNet-18 stem's pool at batch 16 (dy 16x56x56x64 from a 16x112x112x64 input): 5% of a 224 px training step.
// Here one pass over the output pixels in JS.
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, MaxPoolGradInputs, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** dx [B,H,W,C]: each window's dy added at the first pixel of the window, in row-major order, equal to the window's
 *  max (the pool's output: a max is one of its inputs, exactly), which is where the cpu backend puts it (ReLU
 *  outputs tie at 0, so the order matters). Finding the first equal pixel per channel is a test that is almost
 *  always false (a predictable branch): 585 -> ~120 ms on the stem's pool above, where tracking a running argmax per
 *  channel took 196 ms and a found-flag pass over contiguous channels per tap 253. */
function maxPoolGrad(args: { inputs: MaxPoolGradInputs; backend: BackendWasm; attrs: MaxPoolGradAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input, output } = inputs;
  if (!dy || !input || !output) throw new Error('MaxPoolGrad: inputs dy, input and output are required');
  if (dy.dtype !== 'float32' || input.dtype !== 'float32') throw new Error('MaxPoolGrad: float32 only');
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const [B, H, W, C] = input.shape;
  const { outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const out = backend.makeOutput([B, H, W, C], 'float32');
  // views after the last allocation: a heap growth detaches earlier ones
  const x = backend.typedArrayFromHeap(input) as Float32Array,
    y = backend.typedArrayFromHeap(output) as Float32Array,
    g = backend.typedArrayFromHeap(dy) as Float32Array,
    dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Ho; i++) {
      const r0 = Math.max(0, i * sh - top),
        r1 = Math.min(H, i * sh - top + kh);
      for (let j = 0; j < Wo; j++) {
        const c0 = Math.max(0, j * sw - left),
          c1 = Math.min(W, j * sw - left + kw);
        const d = ((b * Ho + i) * Wo + j) * C;
        for (let c = 0; c < C; c++) {
          const v = y[d + c];
          let at = -1;
          window: for (let r = r0; r < r1; r++)
            for (let q = c0, p = ((b * H + r) * W + c0) * C + c; q < c1; q++, p += C)
              if (x[p] === v) {
                at = p;
                break window;
              }
          if (at >= 0) dx[at] += g[d + c];
        }
      }
    }
  return out;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  // tfjs's own backends register their typed kernel functions the same way
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
