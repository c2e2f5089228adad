// One writer per project, with real `serve` processes on one data folder: the second opens the
// project read-only (it sees the first's decisions, its own are refused with CONFLICT); once the
// first is gone (SIGKILL: a stale lock, taken over; SIGTERM: released) the next one writes. At the
// end every acknowledged decision is in the journal, with unique sequence numbers.
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  killAll,
  makeServedProjectIn,
  postApi,
  spawnServe,
  type ServeChild,
  type ServedProject,
} from '../fixtures/serve-process';
import { projectDir } from '../../src-main/project/project';
import { Journal } from '../../src-main/project/journal';

let project: ServedProject;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  project = await makeServedProjectIn('mopro-writer-', 5, 4);
});
afterAll(() => {
  killAll(children);
  fs.rmSync(project.base, { recursive: true, force: true });
});

type Server = ServeChild;
const serve = () => spawnServe(project, children);
async function call(s: Server, method: string, input: unknown): Promise<{ status: number; body: any }> {
  const res = await postApi(s, method, input);
  return { status: res.status, body: await res.json() };
}

const override = (s: Server, id: number, label: string) =>
  call(s, 'decisions.apply', { projectId: s.projectId, ids: [id], action: { kind: 'override', label } });
const lockFile = () => path.join(projectDir(project.dataDir, project.projectId), 'writer.lock');

describe('one writer per project (two real serve processes)', () => {
  it('second opens read-only, reads but cannot write; writes after the first is killed or stops', async () => {
    const acked: { id: number; label: string }[] = [];
    const [A, B] = [await serve(), await serve()];

    // A holds the lock; B says so and refuses decisions with a one-line CONFLICT naming A.
    expect(JSON.parse(fs.readFileSync(lockFile(), 'utf8')).pid).toBe(A.proc.pid);
    const bInfo = await call(B, 'projects.get', { projectId: B.projectId });
    expect(bInfo.status).toBe(200);
    expect(bInfo.body.openElsewhere).toMatchObject({ pid: A.proc.pid });
    expect((await call(A, 'projects.get', { projectId: A.projectId })).body.openElsewhere).toBeNull();

    expect((await override(A, 0, 'A0')).status).toBe(200);
    acked.push({ id: 0, label: 'A0' });
    const refused = await override(B, 1, 'B1');
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('CONFLICT');
    expect(refused.body.message).toMatch(new RegExp(`open elsewhere \\(pid ${A.proc.pid}, since `));
    expect(refused.body.message).not.toContain('\n');
    expect((await call(B, 'decisions.undo', { projectId: B.projectId })).status).toBe(409);
    // B reads A's decision (it catches up with the journal).
    const seen = await call(B, 'samples.get', { projectId: B.projectId, id: 0 });
    expect(seen.body.history.map((h: any) => h.action.label)).toEqual(['A0']);

    // SIGKILL A: its lock stays behind, stale; B takes it over on its next decision.
    A.proc.kill('SIGKILL');
    await once(A.proc, 'exit');
    expect(fs.existsSync(lockFile())).toBe(true);
    const after = await override(B, 1, 'B1');
    expect(after.status).toBe(200);
    acked.push({ id: 1, label: 'B1' });
    expect(B.stderr()).toMatch(new RegExp(`took over the project lock of process ${A.proc.pid} .*no longer running`));
    expect((await call(B, 'projects.get', { projectId: B.projectId })).body.openElsewhere).toBeNull();
    expect(JSON.parse(fs.readFileSync(lockFile(), 'utf8')).pid).toBe(B.proc.pid);

    // A third server is read-only behind B; B stops cleanly (SIGTERM releases the lock), C writes.
    const C = await serve();
    expect((await override(C, 2, 'C2')).status).toBe(409);
    expect((await override(B, 3, 'B3')).status).toBe(200);
    acked.push({ id: 3, label: 'B3' });
    B.proc.kill('SIGTERM');
    await once(B.proc, 'exit');
    expect(fs.existsSync(lockFile())).toBe(false);
    expect((await override(C, 2, 'C2')).status).toBe(200);
    acked.push({ id: 2, label: 'C2' });
    expect((await call(C, 'decisions.undo', { projectId: C.projectId })).status).toBe(200); // undoes C2, not B3
    acked.pop();
    C.proc.kill('SIGTERM');
    await once(C.proc, 'exit');
    expect(fs.existsSync(lockFile())).toBe(false);

    const j = Journal.open(path.join(projectDir(project.dataDir, project.projectId), 'journal.jsonl'), {
      readOnly: true,
    });
    expect(j.warnings).toEqual([]);
    const lines = fs
      .readFileSync(path.join(projectDir(project.dataDir, project.projectId), 'journal.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(new Set(lines.map((l) => l.seq)).size).toBe(lines.length); // no duplicated sequence numbers
    const files = fs
      .readFileSync(path.join(project.dataDir, 'projects', project.projectId, 'runs', 'r1', 'samples.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]);
    for (const a of acked) expect(j.get(files[a.id])).toEqual({ kind: 'override', label: a.label });
    expect(j.get(files[2])).toBeNull(); // C's undone decision
    console.log(
      `project-one-writer: 3 servers, ${acked.length} acknowledged decisions kept, 0 lost, ${lines.length} journal lines, unique seq`,
    );
    j.close();
  }, 90_000);
});
