// Shared by the engine tests: which backends can run here (the same tests run on each).
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src-main/engine/backend';

export const BACKENDS = ['wasm', 'cpu'] as const;

export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (tf.getBackend() === name) return;
  await selectBackend(name);
}
