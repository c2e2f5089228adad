import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

export default defineConfig({
  plugins: [vue()],
  // The renderer's aliases (electron.vite.config.ts); main-process code imports src-shared by relative path so that
  // tsx runs it without a bundler.
  resolve: { alias: { '@shared': resolve('src-shared'), '@renderer': resolve('src-renderer/src') } },
  test: {
    include: ['src-main/**/*.test.ts', 'src-renderer/**/*.test.ts', 'tests/unit/**/*.test.ts', 'tests/integration/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: training tests are CPU bound, running them side by side only slows both.
    fileParallelism: false,
    pool: 'forks',
  },
});
