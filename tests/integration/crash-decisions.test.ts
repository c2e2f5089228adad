// SIGKILL the browser-mode server in the middle of a stream of decisions, restart it, and prove
// that every decision the server acknowledged (HTTP 200) is there. Each decision carries a unique
// override label, so "is it there" is an exact check on the sample's history.
// CI: a few rounds. MOPRO_LONG_TESTS=1: 100 rounds.
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../fixtures/project';
import { killAll, makeServedProjectIn, postApi, spawnServe, type ServedProject } from '../fixtures/serve-process';

const ROUNDS = process.env.MOPRO_LONG_TESTS === '1' ? 100 : 4;
const N = 40;
let project: ServedProject;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  project = await makeServedProjectIn('mopro-crash-', N / 2, 4);
});
afterAll(() => {
  killAll(children);
  fs.rmSync(project.base, { recursive: true, force: true });
});
const startChild = () => spawnServe(project, children);

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
              const res = await postApi(c, 'decisions.apply', {
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
          const res = await postApi(c, 'samples.get', { projectId: c.projectId, id });
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
