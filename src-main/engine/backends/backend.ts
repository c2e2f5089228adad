// Backend selection (design.md §2). Auto order: tensorflow on a CUDA GPU (tfjs-node-gpu) -> webgpu on a
// real GPU adapter (Dawn's Node binding: Vulkan, Metal or D3D12, so NVIDIA, AMD, Intel and Apple GPUs)
// -> tensorflow on the CPU (tfjs-node) -> wasm (SIMD + our training kernels) -> cpu (pure JS, very slow
// for convs). A CPU "fallback" WebGPU adapter (lavapipe, SwiftShader, WARP) is slower than wasm, so auto
// skips it; --backend webgpu takes it (CI runs the numerical tests on lavapipe that way).
// The native packages often fail to install: imported lazily in try/catch, and each rejected candidate
// is reported with its reason.
import type { BackendChoice as BackendOption } from '../../../src-shared/contract';
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { registerWasmTrainingKernels } from './wasm-kernels';

export type BackendPref = BackendOption;
/** The WebGPU adapter a webgpu run used (run.json backend.adapter). */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  fallback: boolean;
}
export interface BackendChoice {
  name: string;
  reason: string;
  skipped: { name: string; why: string }[];
  adapter?: GpuAdapter;
}
export type Importer = (specifier: string) => Promise<unknown>;

// A variable specifier keeps bundlers and tsc from resolving packages that may not be installed.
const defaultImporter: Importer = (s) => import(/* @vite-ignore */ s);

function msg(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].slice(0, 300);
}

/** One tiny training step exercising every kernel our models need (strided conv, BN, dense, softmax CE);
 *  throws when a gradient kernel is missing or the numbers are not finite. */
export async function smokeTrainStep(): Promise<void> {
  // one read at the end: a GPU backend (webgpu) can only read asynchronously
  const sums = tf.tidy(() => {
    const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 1);
    const w1 = tf.variable(tf.randomNormal([3, 3, 3, 4], 0, 0.3, 'float32', 2));
    const w2 = tf.variable(tf.randomNormal([3, 3, 4, 4], 0, 0.3, 'float32', 3));
    const g = tf.variable(tf.ones([4])),
      b = tf.variable(tf.zeros([4]));
    const wd = tf.variable(tf.randomNormal([4, 2], 0, 0.3, 'float32', 4));
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2);
    const { value, grads } = tf.variableGrads(() => {
      let h: tf.Tensor4D = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.relu(tf.batchNorm(h, mean, variance, b, g, 1e-5)) as tf.Tensor4D;
      h = tf.conv2d(h, w2 as tf.Tensor4D, 2, 'same');
      const f = tf.mean(h, [1, 2]);
      return tf.losses.softmaxCrossEntropy(y, tf.matMul(f as tf.Tensor2D, wd as tf.Tensor2D)) as tf.Scalar;
    }, [w1, w2, g, b, wd]);
    const all = tf.stack([value, ...Object.values(grads)].map((t) => tf.sum(tf.abs(t))));
    for (const v of [w1, w2, g, b, wd]) v.dispose();
    return all;
  });
  const all = await sums.data();
  sums.dispose();
  if (!Array.from(all).every(Number.isFinite)) throw new Error('non-finite gradient in smoke step');
}

async function tryTensorflow(pkg: string, importer: Importer, needGpu: boolean): Promise<string> {
  await importer(pkg); // registers the 'tensorflow' backend
  if (!(await tf.setBackend('tensorflow')))
    throw new Error(`${pkg} loaded but the tensorflow backend did not initialise`);
  await tf.ready();
  if (needGpu) {
    // tfjs-node-gpu silently runs on the CPU when CUDA/cuDNN are missing; only call it CUDA when TF sees a GPU.
    const b = tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
    if (b.binding?.isUsingGpuDevice && !b.binding.isUsingGpuDevice())
      throw new Error('no CUDA GPU visible to libtensorflow');
  }
  await smokeTrainStep();
  return pkg;
}

/** The folder holding the wasm binaries. In a packaged app the package sits inside app.asar while the
 *  .wasm files are unpacked beside it (electron-builder.yml asarUnpack): read them there by path. */
export function wasmDistDir(
  resolved: string = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'),
  p: typeof path = path,
  exists: (f: string) => boolean = fs.existsSync,
): string {
  const dir = p.dirname(resolved);
  const unpacked = dir.replace(`${p.sep}app.asar${p.sep}`, `${p.sep}app.asar.unpacked${p.sep}`);
  return unpacked !== dir && exists(unpacked) ? unpacked : dir;
}

/** The prefix handed to setWasmPaths. In Node its Emscripten loader reads `prefix + file name` with fs:
 *  a string starting with file:// through `new URL` (so it must be a real href, percent-encoded), anything
 *  else as a path. A directory path plus its separator needs no encoding, so spaces, non-ASCII letters
 *  and drive letters pass as they are (a URL's `.pathname` would not: it stays percent-encoded, and on
 *  Windows it reads '/C:/...'). */
export function wasmPathPrefix(distDir: string, p: Pick<typeof path, 'sep'> = path): string {
  return distDir.endsWith(p.sep) ? distDir : distDir + p.sep;
}

async function tryWasm(importer: Importer): Promise<void> {
  const mod = (await importer('@tensorflow/tfjs-backend-wasm')) as { setWasmPaths: (p: string) => void };
  mod.setWasmPaths(wasmPathPrefix(wasmDistDir()));
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not initialise');
  await tf.ready();
  registerWasmTrainingKernels();
  await smokeTrainStep();
}

interface DawnAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface DawnAdapter {
  info: DawnAdapterInfo;
  isFallbackAdapter?: boolean;
  features: Set<string>;
  limits: Record<string, number>;
  requestDevice(d: { requiredFeatures: string[]; requiredLimits: Record<string, number> }): Promise<unknown>;
}
interface DawnGpu {
  requestAdapter(o?: { powerPreference?: string }): Promise<DawnAdapter | null>;
}

/** CPU implementations of WebGPU, named by what their adapters report (Dawn flags most as fallback). */
const CPU_ADAPTER = /llvmpipe|lavapipe|swiftshader|basic render driver|\bwarp\b/i;

export function describeAdapter(a: Pick<DawnAdapter, 'info' | 'isFallbackAdapter'>): GpuAdapter {
  const i = a.info ?? {};
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  const fallback =
    i.isFallbackAdapter === true ||
    a.isFallbackAdapter === true ||
    CPU_ADAPTER.test(`${s(i.device)} ${s(i.description)}`);
  return {
    vendor: s(i.vendor),
    architecture: s(i.architecture),
    device: s(i.device),
    description: s(i.description),
    fallback,
  };
}

let webgpuInit: Promise<GpuAdapter> | null = null;

/** Registers tfjs-backend-webgpu on Dawn's adapter once per process (a job process: job-runner.ts). */
async function initWebgpu(importer: Importer, acceptFallback: boolean): Promise<GpuAdapter> {
  const dawn = (await importer('webgpu')) as { create(flags: string[]): DawnGpu; globals: Record<string, unknown> };
  // The backend reads GPUBufferUsage / GPUMapMode / GPUShaderStage as globals, and checks navigator.gpu.
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter: no Vulkan, Metal or D3D12 driver found');
  const info = describeAdapter(adapter);
  if (info.fallback && !acceptFallback)
    throw new Error(`only a CPU WebGPU adapter (${info.description || info.device}), slower than wasm`);
  const nav = (globalThis as unknown as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else (globalThis as unknown as { navigator?: unknown }).navigator = { gpu };
  const mod = (await importer('@tensorflow/tfjs-backend-webgpu')) as {
    WebGPUBackend: new (device: unknown, info: unknown) => tf.KernelBackend;
  };
  // The same device request as the package's own factory, but on the adapter checked above.
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: ['timestamp-query', 'bgra8unorm-storage'].filter((f) => adapter.features.has(f)),
    requiredLimits: Object.fromEntries(
      [
        'maxComputeWorkgroupStorageSize',
        'maxComputeWorkgroupsPerDimension',
        'maxStorageBufferBindingSize',
        'maxBufferSize',
        'maxComputeWorkgroupSizeX',
        'maxComputeInvocationsPerWorkgroup',
      ].map((k) => [k, l[k]]),
    ),
  });
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu'); // the package registers its own when navigator.gpu was set first
  tf.registerBackend('webgpu', () => new mod.WebGPUBackend(device, adapter.info));
  return info;
}

async function tryWebgpu(importer: Importer, acceptFallback: boolean): Promise<GpuAdapter> {
  if (!webgpuInit) {
    webgpuInit = initWebgpu(importer, acceptFallback);
    webgpuInit.catch(() => {
      webgpuInit = null;
    });
  }
  const info = await webgpuInit;
  if (info.fallback && !acceptFallback)
    throw new Error(`only a CPU WebGPU adapter (${info.description || info.device}), slower than wasm`);
  if (!(await tf.setBackend('webgpu'))) throw new Error('webgpu backend did not initialise');
  await tf.ready();
  await smokeTrainStep();
  return info;
}

/** webgpu reads tensors only asynchronously; code that still calls dataSync first awaits this, which
 *  downloads every variable (weights, BN statistics, optimiser state) so their sync reads hit the copy. */
export async function downloadVariables(): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  await Promise.all(Object.values(tf.engine().registeredVariables).map((v) => v.data()));
}

/** After webgpu training (or predict's and cRT's passes): the final pass (judge, neighbour search) and the
 *  model writer still read synchronously, so the trained variables are downloaded and the job goes on
 *  with wasm (else cpu); tensors move over on first use.
 *  Returns the backend it moved to, or null when the current one reads synchronously already. */
export async function continueOnSyncBackend(importer: Importer = defaultImporter): Promise<string | null> {
  if (tf.getBackend() !== 'webgpu') return null;
  await downloadVariables();
  try {
    await tryWasm(importer);
    return 'wasm';
  } catch {
    await tf.setBackend('cpu');
    return 'cpu';
  }
}

/** Picks and initialises the backend. Never throws for 'auto' (cpu always works); for an explicit
 *  choice that fails it throws with the reason. Only jobs that read tensors asynchronously pass
 *  `webgpu: true` (training with or without a frozen backbone or permutation pre-training, predict, cRT,
 *  probe); a job without it leaves webgpu out of auto and refuses it when asked for. */
export async function selectBackend(
  pref: BackendPref = 'auto',
  importer: Importer = defaultImporter,
  o: { webgpu?: boolean } = {},
): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [];
  const want = (n: Exclude<BackendPref, 'auto'>) => pref === 'auto' || pref === n;
  const tensorflow = async (pkg: string, gpu: boolean): Promise<BackendChoice | null> => {
    try {
      await tryTensorflow(pkg, importer, gpu);
      return {
        name: 'tensorflow',
        reason: gpu ? `${pkg}: libtensorflow with CUDA` : `${pkg}: libtensorflow on the CPU`,
        skipped,
      };
    } catch (e) {
      skipped.push({ name: `tensorflow (${pkg})`, why: msg(e) });
      return null;
    }
  };
  if (want('tensorflow')) {
    const c = await tensorflow('@tensorflow/tfjs-node-gpu', true);
    if (c) return c;
  }
  if (want('webgpu')) {
    if (o.webgpu !== true) {
      if (pref === 'webgpu')
        throw new Error(
          'backend webgpu is not available for this job yet (it reads tensors synchronously): use --backend wasm',
        );
      skipped.push({ name: 'webgpu', why: 'not used by this job (synchronous tensor reads)' });
    } else {
      try {
        const adapter = await tryWebgpu(importer, pref === 'webgpu');
        const kind = adapter.fallback ? 'CPU fallback adapter' : 'GPU';
        return {
          name: 'webgpu',
          reason: `WebGPU (Dawn) on ${kind} ${adapter.description || adapter.device || adapter.vendor}`.trim(),
          skipped,
          adapter,
        };
      } catch (e) {
        skipped.push({ name: 'webgpu', why: msg(e) });
        if (pref === 'webgpu')
          throw new Error(
            `backend webgpu unavailable: ${msg(e)} (needs a GPU driver with Vulkan, Metal or D3D12; or use --backend wasm)`,
          );
      }
    }
  }
  if (want('tensorflow')) {
    const c = await tensorflow('@tensorflow/tfjs-node', false);
    if (c) return c;
    if (pref === 'tensorflow')
      throw new Error(
        `backend tensorflow unavailable: ${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')} (install @tensorflow/tfjs-node or use --backend wasm)`,
      );
  }
  if (want('wasm')) {
    try {
      await tryWasm(importer);
      return {
        name: 'wasm',
        reason: `WebAssembly${tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ' SIMD' : ''} with MoPro Studio's conv-gradient kernels`,
        skipped,
      };
    } catch (e) {
      skipped.push({ name: 'wasm', why: msg(e) });
      if (pref === 'wasm') throw new Error(`backend wasm unavailable: ${msg(e)}`);
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { name: 'cpu', reason: pref === 'cpu' ? 'requested' : 'fallback: pure JavaScript (slow)', skipped };
}
