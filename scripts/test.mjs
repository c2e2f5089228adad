#!/usr/bin/env node
// `npm test`: lint (layers, cycles), typecheck (node + web), build (electron-vite: main, preload, renderer), unit and
// integration tests, then the browser end-to-end tests in Debian's Chromium. Ends with one
// "N passed, N failed, N skipped" line summing every suite. Suites that cannot run here say so
// and are never counted as passed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const outDir = path.join(root, 'test-results');
fs.mkdirSync(outDir, { recursive: true });
const only = process.argv.slice(2); // e.g. `npm test -- unit` runs just that stage
const want = (stage) => only.length === 0 || only.includes(stage);
let passed = 0,
  failed = 0,
  skipped = 0;
const failures = [];

function run(label, cmd, args, env = {}) {
  console.log(`\n=== ${label}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

function vitest(label, config, jsonName) {
  const json = path.join(outDir, jsonName);
  fs.rmSync(json, { force: true });
  const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${json}`];
  if (config) args.push('-c', config);
  const status = run(label, 'npx', args);
  if (!fs.existsSync(json)) {
    failed++;
    failures.push(`${label}: no report (exit ${status})`);
    return;
  }
  const r = JSON.parse(fs.readFileSync(json, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  if (r.numFailedTests || status !== 0) failures.push(`${label}: ${r.numFailedTests} failed (exit ${status})`);
  if (status !== 0 && r.numFailedTests === 0) failed++; // a crashed suite counts as a failure
}

for (const [stage, script] of [
  ['lint', 'lint'],
  ['typecheck', 'typecheck:node'],
  ['typecheck', 'typecheck:web'],
  ['build', 'build'],
]) {
  if (!want(stage)) continue;
  const s = run(script, 'npm', ['run', '-s', script]);
  if (s === 0) passed++;
  else {
    failed++;
    failures.push(`${script} exited ${s}`);
  }
}
if (want('unit')) vitest('unit + integration', null, 'vitest-unit.json');
if (want('e2e')) {
  const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!fs.existsSync(path.join(root, 'vitest.e2e.config.ts'))) console.log('\n=== e2e: no e2e suite yet');
  else if (!fs.existsSync(chromium)) {
    console.log(
      `\n=== e2e: NOT RUN — no Chromium at ${chromium} (apt-get install -y chromium). Not counted as passed.`,
    );
    failed++;
    failures.push('e2e: chromium missing');
  } else vitest('e2e (Chromium)', 'vitest.e2e.config.ts', 'vitest-e2e.json');
}
if (failures.length) console.log(`\nFailures:\n  ${failures.join('\n  ')}`);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
