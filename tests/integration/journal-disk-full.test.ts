// The disk fills up under the decision journal (the app's data folder on a 256 KiB tmpfs), with
// the real HTTP server: one decision, fill the disk, a 300-image batch is refused with a one-line
// 503 UNAVAILABLE (nothing saved), free space, one more decision, restart: every acknowledged
// decision is there. Needs root and permission to mount tmpfs; where that is refused the test is
// reported SKIPPED (it did not run), never passed. The same failure injected without a real disk is
// covered in src-main/project/journal-durability.test.ts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src-main/server/server';
import { listScanner, syntheticRows, writeProjectRun } from '../fixtures/project';
import { projectIdFor } from '../../src-main/project/project';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-diskfull-'));
const dataDir = path.join(base, 'data');
fs.mkdirSync(dataDir);
let mounted = false;
let whyNot = 'not root on Linux';
if (process.platform === 'linux' && process.getuid?.() === 0) {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dataDir], { stdio: 'pipe' });
    mounted = true;
  } catch (e) {
    whyNot = String((e as { stderr?: Buffer }).stderr ?? e)
      .trim()
      .split('\n')[0];
  }
}
if (!mounted)
  console.warn(`journal-disk-full: DID NOT RUN (cannot mount a tmpfs: ${whyNot}); reported as skipped, not passed`);
const servers = new Set<RunningServer>();
afterAll(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  if (mounted) {
    try {
      execFileSync('umount', [dataDir]);
    } catch {
      execFileSync('umount', ['-l', dataDir]);
    } // lazy: detaches even if busy
  }
  fs.rmSync(base, { recursive: true, force: true });
});

const root = path.join(base, 'ds'); // never read: the scanner lists the files
const classes = ['a', 'b'];
const files = Array.from({ length: 400 }, (_, i) => ({
  rel: `${classes[i % 2]}/image_with_a_longish_name_${String(i).padStart(4, '0')}.png`,
  label: classes[i % 2],
}));

async function call(srv: RunningServer, method: string, input: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${srv.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mopro-token': srv.token },
    body: JSON.stringify(input),
  });
  return { status: res.status, body: await res.json() };
}

describe('decision journal on a full disk (real server, tmpfs)', () => {
  it.skipIf(!mounted)(
    'a batch that does not fit is refused cleanly; the next decision is durable across a restart',
    async () => {
      const id = projectIdFor(root);
      writeProjectRun(dataDir, id, 'r1', root, classes, syntheticRows(files, classes, 3));
      const scanner = listScanner(root, classes, files);
      const opts = { dataDir, cacheDir: path.join(base, 'cache'), dataset: root, scanner };
      let srv = await startServer(opts);
      servers.add(srv);
      const projectId = srv.projectId!;
      const ov = (ids: number[], label: string) =>
        call(srv, 'decisions.apply', { projectId, ids, action: { kind: 'override', label } });
      expect((await ov([0], 'first')).status).toBe(200);

      const filler = path.join(dataDir, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(4096, 1));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(1, 1));
      } catch {
        /* full to the byte */
      }
      fs.closeSync(fd);

      const journal = path.join(dataDir, 'projects', id, 'journal.jsonl');
      const before = fs.readFileSync(journal);
      const big = await ov(
        Array.from({ length: 300 }, (_, i) => i + 10),
        'batch',
      );
      expect(big.status).toBe(503);
      expect(big.body.code).toBe('UNAVAILABLE');
      expect(big.body.message).toMatch(/^decision not saved: the disk is full \(ENOSPC\)/);
      expect(big.body.message).not.toContain('\n');
      expect(fs.readFileSync(journal).equals(before)).toBe(true); // no partial line left behind
      expect((await call(srv, 'projects.get', { projectId })).body.reviewed).toBe(1); // memory agrees with the disk

      fs.rmSync(filler);
      expect((await ov([1], 'after')).status).toBe(200);
      await srv.close();
      servers.delete(srv);

      srv = await startServer(opts);
      servers.add(srv);
      const labels = async (sid: number) =>
        (await call(srv, 'samples.get', { projectId, id: sid })).body.history.map((h: any) => h.action.label);
      expect(await labels(0)).toEqual(['first']);
      expect(await labels(1)).toEqual(['after']); // the decision that used to be lost
      expect(await labels(10)).toEqual([]);
      expect((await call(srv, 'projects.get', { projectId })).body.reviewed).toBe(2);
      await srv.close();
      servers.delete(srv);
    },
    60_000,
  );
});
