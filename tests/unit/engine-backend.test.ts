// Backend selection (design.md §2) with the backends that install here, and the tensorflow failure path.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend, type Importer } from '../../src-main/engine/backend';

const realImport: Importer = (s) => import(/* @vite-ignore */ s);
const noNative: Importer = (s) => s.startsWith('@tensorflow/tfjs-node') ? Promise.reject(new Error(`Cannot find package '${s}'`)) : realImport(s);

describe('backend selection', () => {
  it('auto falls through tfjs-node-gpu and tfjs-node (not installed) to wasm, with reasons', async () => {
    const b = await selectBackend('auto', noNative);
    expect(b.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(b.skipped.map((s) => s.name)).toEqual(['tensorflow (@tensorflow/tfjs-node-gpu)', 'tensorflow (@tensorflow/tfjs-node)']);
    expect(b.skipped[0].why).toMatch(/Cannot find package/);
  });
  it('auto falls to cpu when wasm also fails', async () => {
    const b = await selectBackend('auto', (s) => s.includes('wasm') ? Promise.reject(new Error('no wasm here')) : noNative(s));
    expect(b.name).toBe('cpu');
    expect(b.skipped.at(-1)).toEqual({ name: 'wasm', why: 'no wasm here' });
  });
  it('an explicit tensorflow request that cannot load fails with a clear reason', async () => {
    await expect(selectBackend('tensorflow', noNative)).rejects.toThrow(/backend tensorflow unavailable: .*tfjs-node-gpu.*install @tensorflow\/tfjs-node/);
  });
  it('a tensorflow package that loads but cannot train is skipped (smoke step)', async () => {
    // a fake package that "registers" nothing: setBackend('tensorflow') fails
    const b = await selectBackend('auto', (s) => s.startsWith('@tensorflow/tfjs-node') ? Promise.resolve({}) : realImport(s));
    expect(b.name).toBe('wasm');
    expect(b.skipped[0].why).toMatch(/tensorflow/i);
  });
  it('explicit wasm and cpu work here and one training step runs on each', async () => {
    expect((await selectBackend('cpu')).name).toBe('cpu');
    expect((await selectBackend('wasm')).name).toBe('wasm');
  });
});
