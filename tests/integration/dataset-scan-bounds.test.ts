// Bounded scans: each real file and folder counts once whatever links reach it, links between class
// folders are reported, system folders are refused, and a scan reports progress and can be cancelled.
// Run in a child process with a time limit where the old code would walk forever.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listImages, scanDataset, ScanCancelled, systemFolder } from '../../src-main/dataset/scan.js';
import { DatasetError } from '../../src-main/dataset/types.js';

const repo = path.resolve(import.meta.dirname, '../..');
let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mopro-bounds-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

// Any bytes do: the scan does not decode.
async function put(rel: string, data = 'x'): Promise<void> {
  const p = path.join(tmp, rel);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, data);
}

/** 8 class folders, 18 real images, every class holding a symlink to every other class (and to itself). */
async function linkedClasses(root: string): Promise<number> {
  const classes = 'abcdefgh'.split('');
  let n = 0;
  for (const [i, c] of classes.entries()) {
    for (let k = 0; k < (i < 2 ? 3 : 2); k++) {
      await put(path.relative(tmp, path.join(root, c, `${c}${k}.png`)), `${c}${k}`);
      n++;
    }
  }
  for (const c of classes) for (const d of classes) await fs.symlink(`../${d}`, path.join(root, c, `to-${d}`));
  return n;
}

describe('each real file counts once', () => {
  it('class folders that link to each other: 18 images stay 18 samples, every link named', async () => {
    const root = path.join(tmp, 'ds');
    const n = await linkedClasses(root);
    // In a child process with a deadline: a walk along every path would not end (5,868 samples and counting).
    const script = `import { scanDataset } from ${JSON.stringify(path.join(repo, 'src-main/dataset/scan.ts'))};
      const r = await scanDataset(${JSON.stringify(root)});
      console.log(JSON.stringify({ samples: r.samples.length, skipped: r.skipped, warnings: r.warnings, classes: r.classes }));`;
    const file = path.join(tmp, 'scan.mts');
    await fs.writeFile(file, script);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: repo, encoding: 'utf8', timeout: 20_000 });
    const secs = (Date.now() - t0) / 1000;
    expect(r.signal, `scan did not finish in 20 s (${secs.toFixed(1)} s)`).toBeNull();
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      samples: number;
      skipped: { path: string; reason: string }[];
      warnings: string[];
      classes: string[];
    };
    console.log(
      `8 cross-linked class folders: ${out.samples} samples from ${n} real images, ${out.skipped.length} links skipped, ${secs.toFixed(1)} s`,
    );
    expect(out.samples).toBe(n);
    expect(out.classes).toHaveLength(8);
    expect(out.skipped).toHaveLength(64); // 8 self links (loops) + 56 links into another class
    expect(out.skipped.filter((s) => /symlink loop/.test(s.reason))).toHaveLength(8);
    expect(out.skipped.filter((s) => /symlink into class folder '.'/.test(s.reason))).toHaveLength(56);
    expect(out.warnings.filter((w) => /links into class folder/.test(w))).toHaveLength(56);
  }, 40_000);

  it('a hard link, a file symlink and a second folder link reach the same files: each counted once (a real path before a link, else the first)', async () => {
    await put('a/1.png');
    await put('b/2.png');
    await put('.store/x/3.png', 'x3');
    await fs.link(path.join(tmp, 'a/1.png'), path.join(tmp, 'a/zz-hard.png'));
    await fs.symlink('2.png', path.join(tmp, 'b/2-link.png'));
    await fs.symlink('../.store/x', path.join(tmp, 'b/via-1'));
    await fs.symlink('../.store/x', path.join(tmp, 'b/via-2'));
    const r = await scanDataset(tmp);
    expect(r.samples.map((s) => s.rel)).toEqual(['a/1.png', 'b/2.png', 'b/via-1/3.png']);
    const reasons = Object.fromEntries(r.skipped.map((s) => [s.path, s.reason]));
    expect(reasons['a/zz-hard.png']).toMatch(/same file as 'a\/1.png' \(a hard link\)/);
    expect(reasons['b/2-link.png']).toMatch(/same file as 'b\/2.png' \(a symlink to it\)/);
    expect(reasons['b/via-2']).toMatch(/already scanned as 'b\/via-1'/);
  });

  it('a class folder that is a symlink to another class is not a second class', async () => {
    await put('a/1.png');
    await put('b/2.png');
    await fs.symlink('a', path.join(tmp, 'c'));
    await fs.symlink('b/..', path.join(tmp, 'd')); // the root itself
    const r = await scanDataset(tmp);
    expect(r.classes).toEqual(['a', 'b']);
    expect(r.samples).toHaveLength(2);
    expect(r.skipped.find((s) => s.path === 'c')?.reason).toMatch(/symlink into class folder 'a'/);
    expect(r.skipped.find((s) => s.path === 'd')?.reason).toMatch(/symlink loop/);
    expect(r.warnings.some((w) => /'c' links into class folder 'a'/.test(w))).toBe(true);
  });

  it("predict's flat listing has the same bounds", async () => {
    await put('x/1.png');
    await put('y/2.png');
    await fs.symlink('../y', path.join(tmp, 'x/to-y'));
    await fs.symlink('../x', path.join(tmp, 'y/to-x'));
    await fs.symlink('1.png', path.join(tmp, 'x/again.png'));
    const r = await listImages(tmp);
    expect(r.files.map((f) => f.rel)).toEqual(['x/1.png', 'y/2.png']);
    expect(r.skipped.map((s) => s.path)).toEqual(['x/again.png', 'x/to-y', 'y/to-x']);
  });
});

// Bind mounts make the same folder appear twice without any symlink; only the device + inode check sees it.
const canBind = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const d = fsSync.mkdtempSync(path.join(os.tmpdir(), 'mopro-bindcheck-'));
  fsSync.mkdirSync(path.join(d, 'm'));
  const ok = spawnSync('mount', ['--bind', d, path.join(d, 'm')]).status === 0;
  if (ok) spawnSync('umount', [path.join(d, 'm')]);
  fsSync.rmSync(d, { recursive: true, force: true });
  return ok;
})();

describe.skipIf(!canBind)('bind mounts (root with mount rights only)', () => {
  it('a class folder mounted inside itself and another class mounted inside it: each real folder scanned once', async () => {
    await put('a/1.png');
    await put('b/2.png');
    await fs.mkdir(path.join(tmp, 'a', 'self'));
    await fs.mkdir(path.join(tmp, 'a', 'b-again'));
    const mounts = [
      [path.join(tmp, 'a'), path.join(tmp, 'a', 'self')],
      [path.join(tmp, 'b'), path.join(tmp, 'a', 'b-again')],
    ];
    try {
      for (const [src, at] of mounts) expect(spawnSync('mount', ['--bind', src!, at!]).status).toBe(0);
      const r = await scanDataset(tmp);
      expect(r.samples.map((s) => s.rel)).toEqual(['a/1.png', 'b/2.png']);
      const reasons = Object.fromEntries(r.skipped.map((s) => [s.path, s.reason]));
      expect(reasons['a/self']).toMatch(/folder loop \(the folder contains itself/);
      expect(reasons['a/b-again']).toMatch(/same folder as 'b': scanned once/);
    } finally {
      for (const [, at] of mounts.reverse()) spawnSync('umount', [at!]);
    }
  });
});

describe('system folders are refused with a clear message', () => {
  const cases: [string, RegExp][] = [
    ['/', /root of a file system/],
    ['/proc', /system folder \(\/proc\)/],
    ['/proc/self', /system folder/],
    ['/sys', /system folder/],
    ['/dev', /system folder/],
  ];
  for (const [p, re] of cases) {
    it.skipIf(process.platform === 'win32')(`${p}`, async () => {
      for (const f of [scanDataset, listImages]) {
        const err = await f(p).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(DatasetError);
        expect((err as Error).message).toMatch(re);
        expect((err as Error).message).toMatch(/open the folder that holds one sub-folder per class/);
      }
    });
  }
  it('a home folder itself (not a folder inside it)', async () => {
    const home = path.join(tmp, 'home');
    await fs.mkdir(path.join(home, 'ds'), { recursive: true });
    expect(systemFolder(home, home)).toMatch(/home folder/);
    expect(systemFolder(path.join(home, 'ds'), home)).toBeNull();
    if (fsSync.existsSync(os.homedir())) {
      const err = await scanDataset(os.homedir()).then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as Error).message).toMatch(/home folder itself/);
    }
  });
});

describe('progress and cancel', () => {
  async function wideTree(folders: number): Promise<void> {
    for (let i = 0; i < folders; i++) await put(`c${i % 2}/f${i}/img.png`);
  }

  it('reports files and folders seen, ending with the totals', async () => {
    await wideTree(40);
    const calls: [number, number][] = [];
    const r = await scanDataset(tmp, { onWalk: (files, folders) => calls.push([files, folders]) });
    expect(r.samples).toHaveLength(40);
    expect(calls.at(-1)).toEqual([40, 42]); // 2 class folders + 40 sub-folders
  });

  it('a training run asked to stop during its scan ends as stopped, leaving no run folder', async () => {
    await wideTree(20);
    const { runTraining } = await import('../../src-main/engine/train/train-run');
    const out = path.join(tmp, '..', `${path.basename(tmp)}-run`);
    const logs: string[] = [];
    const r = await runTraining(
      {
        dataset: tmp,
        out,
        method: 'ce',
        backend: 'cpu',
        epochs: 1,
        cacheDir: path.join(tmp, '..', `${path.basename(tmp)}-cache`),
      },
      (e) => {
        if (e.type === 'log') logs.push(e.message);
      },
      { shouldStop: () => true },
    );
    expect(r).toMatchObject({ state: 'stopped', epochsDone: 0 });
    expect(logs).toContain('stopped during the scan: nothing was trained');
    expect(fsSync.existsSync(out)).toBe(false);
  }, 60_000);

  it('an aborted signal cancels the scan with ScanCancelled, before or during the walk', async () => {
    await wideTree(300);
    const pre = new AbortController();
    pre.abort();
    await expect(scanDataset(tmp, { signal: pre.signal })).rejects.toBeInstanceOf(ScanCancelled);
    const mid = new AbortController();
    let seen = 0;
    const err = await scanDataset(tmp, {
      signal: mid.signal,
      onWalk: (f) => {
        seen = f;
      },
      onProgress: () => mid.abort(),
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ScanCancelled);
    expect((err as Error).message).toMatch(/cancelled/);
    expect(seen).toBe(300);
    const walkAbort = new AbortController();
    setImmediate(() => walkAbort.abort());
    await expect(scanDataset(tmp, { signal: walkAbort.signal })).rejects.toBeInstanceOf(ScanCancelled);
  });
});
