// The built bundle (out/main, what the installers ship) trains on two data-parallel replicas from a folder whose
// path has a space and non-ASCII letters, as an installed "MoPro Studio" does: the job process (worker.js, forked
// here as `serve` and the CLI fork it; the app starts the same file in Electron's utilityProcess, which cannot run
// here) finds replica-worker.js beside its chunks and starts it as a worker thread.
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FromJob, ToJob } from '../../src-main/engine/job-runner';
import type { EngineEvent } from '../../src-main/engine/types';
import { makeDataset } from '../fixtures/project';
import { REPO } from '../fixtures/cli';

const built = path.join(REPO, 'out', 'main');
let tmp: string, app: string;

beforeAll(async () => {
  // `npm test` builds first; a lone run of this file builds when there is no bundle yet
  if (!fs.existsSync(path.join(built, 'worker.js')) || !fs.existsSync(path.join(built, 'replica-worker.js')))
    execFileSync('npx', ['electron-vite', 'build'], { cwd: REPO, stdio: 'ignore' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-built-'));
  app = path.join(tmp, 'Mo Pro Stüdio', 'resources', 'app');
  fs.cpSync(built, path.join(app, 'out', 'main'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(app, 'package.json')); // "type": "module"
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(app, 'node_modules'), 'dir');
  await makeDataset(path.join(tmp, 'ds'), ['a', 'b'], 16);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs one job in the built job process; resolves with its events and how it ended. */
function runJob(opts: Record<string, unknown>): Promise<{ events: EngineEvent[]; end: FromJob }> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(app, 'out', 'main', 'worker.js'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const events: EngineEvent[] = [];
    const send = (m: ToJob) => child.send(m);
    child.on('message', (m: FromJob) => {
      if (m.type === 'ready') send({ type: 'start', job: { kind: 'train', opts } });
      else if (m.type === 'event') events.push(m.event);
      else {
        send({ type: 'exit' });
        resolve({ events, end: m });
      }
    });
    child.on('exit', (code) =>
      reject(new Error(`job process exited (${code}) before it ended: ${stderr.slice(-500)}`)),
    );
  });
}

describe('the built job process', () => {
  it.skipIf(os.availableParallelism() < 2)(
    'trains on two replicas from an install folder named "Mo Pro Stüdio" (replica-worker.js found and started)',
    async () => {
      const out = path.join(tmp, 'run');
      const { events, end } = await runJob({
        dataset: path.join(tmp, 'ds'),
        out,
        method: 'mopro',
        epochs: 1,
        batchSize: 8,
        imageSize: 8,
        backend: 'wasm',
        threads: 2,
        seed: 1,
        cacheDir: path.join(tmp, 'cache'),
      });
      expect(end, JSON.stringify(end)).toMatchObject({ type: 'done' });
      const logs = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
      expect(
        logs.some((m) => /^training on 2 data-parallel replicas/.test(m)),
        logs.join('\n'),
      ).toBe(true);
      expect(logs.some((m) => /training on one thread/.test(m))).toBe(false);
      const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
      expect(run.state).toBe('done');
      expect(run.adaptations.some((a: string) => /^2 data-parallel replicas/.test(a))).toBe(true);
    },
    120_000,
  );
});
