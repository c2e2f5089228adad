// Backend selection (design.md §2). Auto order: tensorflow (tfjs-node-gpu, CUDA) -> tensorflow
// (tfjs-node, CPU) -> wasm (SIMD + our training kernels) -> cpu (pure JS, very slow for convs).
// The native packages are optionalDependencies that often fail to install: imported lazily in
// try/catch, and each rejected candidate is reported with its reason.
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { registerWasmTrainingKernels } from './wasm-kernels';

export type BackendPref = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export interface BackendChoice { name: string; reason: string; skipped: { name: string; why: string }[] }
export type Importer = (specifier: string) => Promise<unknown>;

// A variable specifier keeps bundlers and tsc from resolving packages that may not be installed.
const defaultImporter: Importer = (s) => import(/* @vite-ignore */ s);

function msg(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].slice(0, 300);
}

/** One tiny training step exercising every kernel our models need (strided conv, BN, dense, softmax CE);
 *  throws when a gradient kernel is missing or the numbers are not finite. */
export function smokeTrainStep(): void {
  tf.tidy(() => {
    const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 1);
    const w1 = tf.variable(tf.randomNormal([3, 3, 3, 4], 0, 0.3, 'float32', 2));
    const w2 = tf.variable(tf.randomNormal([3, 3, 4, 4], 0, 0.3, 'float32', 3));
    const g = tf.variable(tf.ones([4])), b = tf.variable(tf.zeros([4]));
    const wd = tf.variable(tf.randomNormal([4, 2], 0, 0.3, 'float32', 4));
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2);
    const { value, grads } = tf.variableGrads(() => {
      let h: tf.Tensor4D = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, "same");
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.relu(tf.batchNorm(h, mean, variance, b, g, 1e-5)) as tf.Tensor4D;
      h = tf.conv2d(h, w2 as tf.Tensor4D, 2, "same");
      const f = tf.mean(h, [1, 2]);
      return tf.losses.softmaxCrossEntropy(y, tf.matMul(f as tf.Tensor2D, wd as tf.Tensor2D)) as tf.Scalar;
    }, [w1, w2, g, b, wd]);
    const all = [value, ...Object.values(grads)].map((t) => tf.sum(tf.abs(t)).dataSync()[0]);
    for (const v of [w1, w2, g, b, wd]) v.dispose();
    if (!all.every(Number.isFinite)) throw new Error('non-finite gradient in smoke step');
  });
}

async function tryTensorflow(pkg: string, importer: Importer, needGpu: boolean): Promise<string> {
  await importer(pkg); // registers the 'tensorflow' backend
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but the tensorflow backend did not initialise`);
  await tf.ready();
  if (needGpu) {
    // tfjs-node-gpu silently runs on the CPU when CUDA/cuDNN are missing; only call it CUDA when TF sees a GPU.
    const b = tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
    if (b.binding?.isUsingGpuDevice && !b.binding.isUsingGpuDevice()) throw new Error('no CUDA GPU visible to libtensorflow');
  }
  smokeTrainStep();
  return pkg;
}

export function wasmDistDir(): string {
  const req = createRequire(import.meta.url);
  return path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm'));
}

async function tryWasm(importer: Importer): Promise<void> {
  const mod = (await importer('@tensorflow/tfjs-backend-wasm')) as { setWasmPaths: (p: string) => void };
  // In Node the .wasm files are read from disk: point at node_modules (a trailing slash is required).
  mod.setWasmPaths(pathToFileURL(wasmDistDir()).pathname + '/');
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not initialise');
  await tf.ready();
  registerWasmTrainingKernels();
  smokeTrainStep();
}

/** Picks and initialises the backend. Never throws for 'auto' (cpu always works); for an explicit
 *  choice that fails it throws with the reason. */
export async function selectBackend(pref: BackendPref = 'auto', importer: Importer = defaultImporter): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [];
  const want = (n: 'tensorflow' | 'wasm' | 'cpu') => pref === 'auto' || pref === n;
  if (want('tensorflow')) {
    for (const [pkg, gpu] of [['@tensorflow/tfjs-node-gpu', true], ['@tensorflow/tfjs-node', false]] as const) {
      try {
        await tryTensorflow(pkg, importer, gpu);
        return { name: 'tensorflow', reason: gpu ? `${pkg}: libtensorflow with CUDA` : `${pkg}: libtensorflow on the CPU`, skipped };
      } catch (e) {
        skipped.push({ name: `tensorflow (${pkg})`, why: msg(e) });
      }
    }
    if (pref === 'tensorflow') throw new Error(`backend tensorflow unavailable: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')} (install @tensorflow/tfjs-node or use --backend wasm)`);
  }
  if (want('wasm')) {
    try {
      await tryWasm(importer);
      return { name: 'wasm', reason: `WebAssembly${tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ' SIMD' : ''} with MoPro Studio's conv-gradient kernels`, skipped };
    } catch (e) {
      skipped.push({ name: 'wasm', why: msg(e) });
      if (pref === 'wasm') throw new Error(`backend wasm unavailable: ${msg(e)}`);
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { name: 'cpu', reason: pref === 'cpu' ? 'requested' : 'fallback: pure JavaScript (slow)', skipped };
}
