// Backend selection (design.md §2) with the backends that install here, and the tensorflow failure path.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { describeAdapter, selectBackend, type Importer } from './backend';
import { WEBGPU_MISSING } from './test-backends';

const realImport: Importer = (s) => import(/* @vite-ignore */ s);
const noNative: Importer = (s) =>
  s.startsWith('@tensorflow/tfjs-node') ? Promise.reject(new Error(`Cannot find package '${s}'`)) : realImport(s);

describe('backend selection', () => {
  it('auto falls through tfjs-node-gpu and tfjs-node (not installed) to wasm, with reasons', async () => {
    const b = await selectBackend('auto', noNative, { webgpu: true });
    expect(b.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    // order: tensorflow on a GPU, webgpu on a real GPU adapter (none here: a CPU one at most), tensorflow on the CPU
    expect(b.skipped.map((s) => s.name)).toEqual([
      'tensorflow (@tensorflow/tfjs-node-gpu)',
      'webgpu',
      'tensorflow (@tensorflow/tfjs-node)',
    ]);
    expect(b.skipped[0].why).toMatch(/Cannot find package/);
    expect(b.skipped[1].why).toMatch(WEBGPU_MISSING ? /no WebGPU adapter|webgpu/ : /only a CPU WebGPU adapter/);
  });
  it('auto falls to cpu when wasm also fails', async () => {
    const b = await selectBackend('auto', (s) =>
      s.includes('wasm') ? Promise.reject(new Error('no wasm here')) : noNative(s),
    );
    expect(b.name).toBe('cpu');
    expect(b.skipped.at(-1)).toEqual({ name: 'wasm', why: 'no wasm here' });
  });
  it('an explicit tensorflow request that cannot load fails with a clear reason', async () => {
    await expect(selectBackend('tensorflow', noNative)).rejects.toThrow(
      /backend tensorflow unavailable: .*tfjs-node-gpu.*install @tensorflow\/tfjs-node/,
    );
  });
  it('a tensorflow package that loads but cannot train is skipped (smoke step)', async () => {
    // a fake package that "registers" nothing: setBackend('tensorflow') fails
    const b = await selectBackend('auto', (s) =>
      s.startsWith('@tensorflow/tfjs-node') ? Promise.resolve({}) : realImport(s),
    );
    expect(b.name).toBe('wasm');
    expect(b.skipped[0].why).toMatch(/tensorflow/i);
  });
  it('jobs that read synchronously leave webgpu out of auto and refuse it by name', async () => {
    const b = await selectBackend('auto', noNative);
    expect(b.skipped.find((s) => s.name === 'webgpu')?.why).toMatch(/synchronous/);
    await expect(selectBackend('webgpu', noNative)).rejects.toThrow(/use --backend wasm/);
  });
  it('CPU WebGPU adapters count as fallback: by flag or by name', () => {
    const lavapipe = {
      vendor: 'mesa',
      architecture: 'software',
      device: 'llvmpipe-llvm-15-0-6-256-bits-',
      description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)',
    };
    expect(describeAdapter({ info: { ...lavapipe, isFallbackAdapter: true } }).fallback).toBe(true);
    expect(describeAdapter({ info: lavapipe }).fallback).toBe(true);
    expect(
      describeAdapter({ info: { vendor: 'google', device: 'SwiftShader Device (Subzero)', description: '' } }).fallback,
    ).toBe(true);
    expect(
      describeAdapter({
        info: {
          vendor: 'nvidia',
          architecture: 'ada',
          device: '',
          description: 'NVIDIA GeForce RTX 4070',
          isFallbackAdapter: false,
        },
      }),
    ).toEqual({
      vendor: 'nvidia',
      architecture: 'ada',
      device: '',
      description: 'NVIDIA GeForce RTX 4070',
      fallback: false,
    });
    expect(
      describeAdapter({ info: { vendor: 'apple', description: 'Apple M2' }, isFallbackAdapter: true }).fallback,
    ).toBe(true);
  });
  it.skipIf(WEBGPU_MISSING)(
    `explicit webgpu takes the adapter there is and records it${WEBGPU_MISSING ? ` (skipped: ${WEBGPU_MISSING})` : ''}`,
    async () => {
      const b = await selectBackend('webgpu', noNative, { webgpu: true });
      expect(b.name).toBe('webgpu');
      expect(tf.getBackend()).toBe('webgpu');
      expect(b.adapter).toMatchObject({ description: expect.any(String), fallback: expect.any(Boolean) });
      expect(b.reason).toMatch(/WebGPU \(Dawn\) on (GPU|CPU fallback adapter)/);
    },
    120_000,
  );
  it('explicit wasm and cpu work here and one training step runs on each', async () => {
    expect((await selectBackend('cpu')).name).toBe('cpu');
    expect((await selectBackend('wasm')).name).toBe('wasm');
  });
});
