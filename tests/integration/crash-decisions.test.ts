// SIGKILL the browser-mode server in the middle of a stream of decisions, restart it, and prove
// that every decision the server acknowledged (HTTP 200) is there. Each decision carries a unique
// override label, so "is it there" is an exact check on the sample's history.
// CI: a few rounds. MOPRO_LONG_TESTS=1: 100 rounds.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDataset, rng, syntheticRows, writeProjectRun } from '../fixtures/project';
import { projectIdFor } from '../../src-main/project/project';

const ROUNDS = process.env.MOPRO_LONG_TESTS === '1' ? 100 : 4;
const repo = path.resolve(import.meta.dirname, '../..');
let base: string, root: string, env: NodeJS.ProcessEnv;
const N = 40;

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-crash-'));
  root = path.join(base, 'ds');
  const files = await makeDataset(root, ['a', 'b'], N / 2);
  const dataDir = path.join(base, 'data');
  writeProjectRun(
    dataDir,
    projectIdFor(fs.realpathSync(root)),
    'r1',
    fs.realpathSync(root),
    ['a', 'b'],
    syntheticRows(files, ['a', 'b'], 4),
  );
  env = { ...process.env, MOPRO_DATA_DIR: dataDir, MOPRO_CACHE_DIR: path.join(base, 'cache') };
});
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(base, { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  origin: string;
  token: string;
  projectId: string;
}

async function startChild(): Promise<Child> {
  // `node --import tsx`, not the tsx CLI: the CLI runs the script in a child process, so SIGKILL
  // would hit only the wrapper and leave the real server running (and the test proving nothing).
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repo, 'src-main/server/main.ts'), '--dataset', root],
    { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(proc);
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stdout! });
    rl.once('line', resolve);
    proc.once('exit', (c) => reject(new Error(`server exited (${c}) before listening: ${stderr}`)));
  });
  const j = JSON.parse(line);
  return { proc, origin: j.origin, token: j.token, projectId: j.projectId };
}

const call = async (c: Child, method: string, input: unknown): Promise<Response> =>
  fetch(`${c.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mopro-token': c.token },
    body: JSON.stringify(input),
  });

describe('decisions survive SIGKILL of the server', () => {
  it(
    `${ROUNDS} rounds: every acknowledged decision is there after restart`,
    async () => {
      const acked: { id: number; label: string }[] = [];
      const r = rng(123);
      let sent = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const c = await startChild();
        let stop = false;
        // Three concurrent streams, so the kill lands mid-request and, sometimes, mid-write.
        const stream = async (s: number) => {
          for (let n = 0; !stop; n++) {
            const label = `r${round}_s${s}_${n}`;
            const ids =
              r() < 0.2 ? [Math.floor(r() * N), Math.floor(r() * N), Math.floor(r() * N)] : [Math.floor(r() * N)];
            sent++;
            try {
              const res = await call(c, 'decisions.apply', {
                projectId: c.projectId,
                ids,
                action: { kind: 'override', label },
              });
              if (res.status === 200) {
                await res.json();
                for (const id of new Set(ids)) acked.push({ id, label });
              }
            } catch {
              return;
            } // connection cut by the kill: not acknowledged
          }
        };
        const streams = [0, 1, 2].map(stream);
        await new Promise((res) => setTimeout(res, 80 + r() * 400));
        c.proc.kill('SIGKILL');
        stop = true;
        await Promise.all(streams);
        if (c.proc.exitCode === null && c.proc.signalCode === null) await once(c.proc, 'exit');
      }
      const c = await startChild();
      try {
        const byId = new Map<number, Set<string>>();
        for (let id = 0; id < N; id++) {
          const res = await call(c, 'samples.get', { projectId: c.projectId, id });
          expect(res.status).toBe(200);
          const d = (await res.json()) as { history: { action: { kind: string; label?: string } }[] };
          byId.set(id, new Set(d.history.map((h) => h.action.label ?? '')));
        }
        const lost = acked.filter((a) => !byId.get(a.id)!.has(a.label));
        console.log(
          `crash-decisions: ${ROUNDS} SIGKILLs, ${sent} decisions sent, ${acked.length} acknowledged (per sample), ${lost.length} lost`,
        );
        expect(acked.length).toBeGreaterThan(ROUNDS); // the test really streamed
        expect(lost).toEqual([]);
      } finally {
        c.proc.kill('SIGTERM');
      }
    },
    60_000 + ROUNDS * 15_000,
  );
});
