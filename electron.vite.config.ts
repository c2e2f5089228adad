import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import vue from '@vitejs/plugin-vue';

// One config builds the three targets. Main/preload live under src-main/, the renderer under
// src-renderer/. The renderer build is also what `mopro serve` hands to a plain browser.
export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: {
        // The engine's job process is its own entry: engine/job-runner.ts looks for worker.js beside itself;
        // so is a data-parallel replica's thread (engine/train/data-parallel.ts looks for replica-worker.js).
        input: {
          index: resolve('src-main/app/main.ts'),
          worker: resolve('src-main/engine/worker.ts'),
          'replica-worker': resolve('src-main/engine/train/replica-worker.ts'),
        },
        // Native / wasm-loading packages stay outside the bundle and are required at run time.
        external: [
          'sharp',
          '@tensorflow/tfjs',
          '@tensorflow/tfjs-backend-wasm',
          '@tensorflow/tfjs-backend-webgpu',
          'webgpu',
          '@tensorflow/tfjs-node',
          '@tensorflow/tfjs-node-gpu',
          'electron',
        ],
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      // A sandboxed window can only load a CommonJS preload.
      rollupOptions: {
        input: { index: resolve('src-main/app/preload.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'src-renderer',
    // @shared: what both processes use (the API contract, run-folder formats); @renderer: the renderer's own src.
    resolve: { alias: { '@shared': resolve('src-shared'), '@renderer': resolve('src-renderer/src') } },
    plugins: [vue()],
    build: {
      outDir: resolve('out/renderer'),
      rollupOptions: { input: { index: resolve('src-renderer/index.html') } },
    },
  },
});
