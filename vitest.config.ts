import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

// The renderer's aliases (electron.vite.config.ts); main-process code imports src-shared by relative path so that
// tsx runs it without a bundler.
const alias = { '@shared': resolve('src-shared'), '@renderer': resolve('src-renderer/src') };

export default defineConfig({
  plugins: [vue()],
  resolve: { alias },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: training tests are CPU bound, running them side by side only slows both.
    fileParallelism: false,
    pool: 'forks',
    // Main-process code runs in Node; renderer code in a DOM (happy-dom), as it does in the window.
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          environment: 'node',
          include: [
            'src-main/**/*.test.ts',
            'src-shared/**/*.test.ts',
            'tests/repo/**/*.test.ts',
            'bench/**/*.test.ts',
            'tests/integration/**/*.test.ts',
          ],
        },
      },
      { extends: true, test: { name: 'renderer', environment: 'happy-dom', include: ['src-renderer/**/*.test.ts'] } },
    ],
  },
});
