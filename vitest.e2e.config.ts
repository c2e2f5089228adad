import { defineConfig } from 'vitest/config';

// Browser end-to-end tests: playwright-core driving Debian's /usr/bin/chromium against the real
// `mopro serve` server and the built renderer (out/renderer; `npm test` builds first).
export default defineConfig({
  test: {
    include: ['tests/e2e/**/*.e2e.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
