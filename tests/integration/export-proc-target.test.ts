// Reliability: an export target on a pseudo file system (/proc) must fail with a clean one-line error,
// not freeze the process. Node's fs.mkdirSync(..., { recursive: true }) loops forever on
// /proc/self/<new>, because mkdir there reports ENOENT although the parent exists; in the app that
// would freeze the browser-mode server or the Electron main process (export.start runs in-process).
// Run in a child process with a time limit so a regression fails this test instead of hanging CI.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');

describe.skipIf(process.platform !== 'linux')('export to a /proc path', () => {
  it('fails fast with a named reason instead of hanging', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-rel-proc-'));
    try {
      const ds = path.join(tmp, 'ds');
      fs.mkdirSync(path.join(ds, 'a'), { recursive: true });
      fs.writeFileSync(path.join(ds, 'a', 'x.png'), 'x');
      const script = `
        import { exportDataset } from ${JSON.stringify(path.join(repo, 'src-main/project/export.ts'))};
        const rows = [{ rel: 'a/x.png', abs: ${JSON.stringify(path.join(ds, 'a', 'x.png'))}, given: 'a', finalLabel: 'a', source: 'folder' }];
        try { await exportDataset({ rows, datasetRoot: ${JSON.stringify(ds)}, to: '/proc/self/mopro-new-export', mode: 'copy', includeOod: false }); console.log('NO ERROR'); }
        catch (e) { console.log('ERR ' + e.message); }`;
      const file = path.join(tmp, 'run.mts');
      fs.writeFileSync(file, script);
      const t0 = Date.now();
      const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
        cwd: repo,
        encoding: 'utf8',
        timeout: 10_000,
      });
      const secs = (Date.now() - t0) / 1000;
      console.log(
        `export to /proc/self/mopro-new-export: ${r.signal ? `killed after ${secs.toFixed(1)} s (HUNG)` : r.stdout.trim()}`,
      );
      expect(
        r.signal,
        'exportDataset hung on a /proc target (recursive mkdirSync loop): it would freeze the server',
      ).toBeNull();
      expect(r.stdout).toMatch(/^ERR .*mopro-new-export/m);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 40_000);
});
