// Lint: the architecture rules first (layers only look down, no import cycles), then a few correctness rules.
// Formatting is Prettier's job (prettier.config.js), not ESLint's.
import tseslint from 'typescript-eslint';
import vueParser from 'vue-eslint-parser';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

// Layers: shared < util < dataset < engine < project < insights < api < server / app / cli; the renderer sees only
// src-shared and itself. Each zone forbids `target` from importing `from`.
const main = (p) => `./src-main/${p}`;
const above = {
  util: ['dataset', 'engine', 'project', 'insights', 'api', 'server', 'app', 'cli.ts'],
  dataset: ['engine', 'project', 'insights', 'api', 'server', 'app', 'cli.ts'],
  engine: ['project', 'insights', 'api', 'server', 'app', 'cli.ts'],
  project: ['insights', 'api', 'server', 'app', 'cli.ts'],
  insights: ['api', 'server', 'app', 'cli.ts'],
  api: ['server', 'app', 'cli.ts'],
};
const zones = [
  ...Object.entries(above).flatMap(([layer, ups]) =>
    ups.map((up) => ({
      target: main(layer),
      from: main(up),
      message: `${layer}/ must not import ${up} (layers only look down)`,
    })),
  ),
  {
    target: './src-shared',
    from: './src-main',
    message: 'src-shared/ is imported by both processes: no main-process code',
  },
  { target: './src-shared', from: './src-renderer', message: 'src-shared/ must not import the renderer' },
  { target: './src-renderer', from: './src-main', message: 'the renderer imports only @shared and its own files' },
];

export default tseslint.config(
  {
    ignores: ['out/**', 'dist/**', 'node_modules/**', 'bench-data/**', 'test-results/**', 'scale-out/**', '**/*.d.ts'],
  },
  {
    files: ['**/*.ts', '**/*.vue', '**/*.js', '**/*.mjs'],
    languageOptions: {
      parser: vueParser,
      parserOptions: {
        parser: tseslint.parser,
        sourceType: 'module',
        ecmaVersion: 'latest',
        extraFileExtensions: ['.vue'],
      },
    },
    plugins: { 'import-x': importX, '@typescript-eslint': tseslint.plugin },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs', '.vue', '.json'] })],
      'import-x/extensions': ['.ts', '.js', '.mjs', '.vue'],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones }],
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: 'only src-main/app/ imports electron' }] },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'no-debugger': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  // The Electron shell is the one place that imports electron.
  {
    files: ['src-main/app/**', 'tests/e2e/**', 'electron.vite.config.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
