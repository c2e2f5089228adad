// Shared by the engine tests: which backends can run here (the same tests run on each).
// webgpu needs a WebGPU adapter (in CI: lavapipe, a Vulkan CPU driver, installed by .ci/run); where there
// is none its tests are skipped with the reason in their name, never passed.
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './backend';

export const BACKENDS = ['wasm', 'cpu'] as const;
export type TestBackend = 'wasm' | 'cpu' | 'webgpu';

async function probeWebgpu(): Promise<string | null> {
  try {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const a = await create([]).requestAdapter();
    return a
      ? null
      : 'no WebGPU adapter here (no Vulkan driver: mesa-vulkan-drivers 25 from bookworm-backports, see .ci/run)';
  } catch (e) {
    return `the webgpu package does not load here: ${(e as Error).message.split('\n')[0]}`;
  }
}
/** Why webgpu tests cannot run here, or null when an adapter (a GPU or a CPU fallback one) is present. */
export const WEBGPU_MISSING: string | null = await probeWebgpu();
/** The numerical tests' backends, with webgpu labelled by why it is skipped where it is. */
export const NUMERIC_BACKENDS: [label: string, backend: TestBackend][] = [
  ['wasm', 'wasm'],
  ['cpu', 'cpu'],
  [WEBGPU_MISSING ? `webgpu (skipped: ${WEBGPU_MISSING})` : 'webgpu', 'webgpu'],
];
export const unavailable = (b: TestBackend): boolean => b === 'webgpu' && WEBGPU_MISSING !== null;

export async function useBackend(name: TestBackend): Promise<void> {
  if (tf.getBackend() === name) return;
  await selectBackend(name, undefined, { webgpu: true });
}
