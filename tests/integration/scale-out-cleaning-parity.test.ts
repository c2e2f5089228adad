// The noise-cleaning rule (mopro.md §2) of the PyTorch job trainer (scale-out/mopro_ddp/cleaning.py) and of the
// TF.js engine (engine/mopro/noise-cleaning.ts) give the same status and label on the same arrays: random rows plus
// rows built to sit exactly on the boundaries (q[y] = 1/K, max q = T, tied maxima); and the trainer's prototype
// update (per-sample EMA + renormalisation, mopro.md §6.2) equals the engine's updatePrototypes; and its networks
// load into torchvision's resnet18 / resnet50 with the same logits. The arrays are
// written here and run through `python3 -m mopro_ddp.parity`. Needs Debian's python3-torch; without it the
// tests report NOT RUN (skipped, never passed).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanRule, softmaxRows } from '../../src-main/engine/mopro/noise-cleaning';
import { updatePrototypes } from '../../src-main/engine/mopro/prototypes';
import { Rng } from '../../src-shared/rng';
import { ARCHS } from '../../src-main/engine/nets/model';

const root = path.resolve(import.meta.dirname, '..', '..');
const PY = process.env.MOPRO_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch)
  console.warn(
    `cleaning-rule parity test NOT RUN: ${PY} cannot import torch (apt-get install -y python3-torch). Counted as skipped, not passed.`,
  );

/** The float32 value `d` representable steps away from fround(x). */
function f32Step(x: number, d: number): number {
  const f = Float32Array.of(x),
    u = new Uint32Array(f.buffer);
  u[0] += d;
  return f[0];
}

function cases(K: number, n: number, seed: number) {
  const rng = new Rng(seed);
  const lp = new Float32Array(n * K),
    ls = new Float32Array(n * K);
  for (let t = 0; t < n * K; t++) {
    lp[t] = 4 * rng.normal();
    ls[t] = 4 * rng.normal();
  }
  const p = softmaxRows(lp, n, K),
    s = softmaxRows(ls, n, K, 0.5);
  const given = Int32Array.from({ length: n }, () => rng.int(K));
  // boundary rows: p = s so q = p exactly in float32
  const set = (i: number, row: number[]) => {
    for (let k = 0; k < K; k++) {
      p[i * K + k] = row[k];
      s[i * K + k] = row[k];
    }
  };
  const uniform = Array(K).fill(1 / K);
  set(0, uniform); //                                    q[y] = 1/K (float32 of 1/K vs the float64 bound)
  const atT = Array(K).fill(0.2 / (K - 1));
  atT[1] = 0.8;
  set(1, atT);
  given[1] = 0; //                          max q = T = 0.8 exactly
  const tie = Array(K).fill(0);
  tie[0] = 0.5;
  tie[K - 1] = 0.5;
  set(2, tie);
  given[2] = 1; //                          tied maximum: the first index wins
  const atT6 = Array(K).fill(0.4 / (K - 1));
  atT6[0] = 0.6;
  set(3, atT6);
  given[3] = K - 1; //                     max q = 0.6 (the final pass's T)
  // q[y] within a few float32 steps of 1/K, p and s on different steps: the float64 blend falls between two
  // float32 values, so keep depends on comparing the float32-rounded q (as the engine stores it)
  const steps = [-2, -1, 0, 1, 2];
  let i = 4;
  for (const a of steps)
    for (const b of steps) {
      const pa = f32Step(1 / K, a),
        sb = f32Step(1 / K, b);
      for (let k = 0; k < K; k++) {
        p[i * K + k] = (1 - pa) / (K - 1);
        s[i * K + k] = (1 - sb) / (K - 1);
      }
      p[i * K] = pa;
      s[i * K] = sb;
      given[i] = 0;
      i++;
    }
  return { p, s, given };
}

const bytes = (a: Float32Array | Int32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const CASES = [
  [2, 0.5, 0.8],
  [5, 0.5, 0.8],
  [10, 0.5, 0.6],
  [5, 1, 0.6],
] as const;
const N = 3000;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-clean-'));
const inputs = CASES.map(([K, alpha, T], c) => {
  const { p, s, given } = cases(K, N, 11 + K + c);
  const dir = path.join(work, String(c));
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'p.f32'), bytes(p));
  fs.writeFileSync(path.join(dir, 's.f32'), bytes(s));
  fs.writeFileSync(path.join(dir, 'given.i32'), bytes(given));
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ kind: 'clean', n: N, K, alpha, T }));
  return { K, alpha, T, p, s, given, dir };
});
// prototype updates: zero prototypes (the first sample of a class sets its direction) and trained ones, a batch
// where classes repeat, some samples left out (OOD), one class absent (its row must not move)
// the trainer's networks are torchvision's: its state dict loads into torchvision.models.<arch> and gives the same logits
const TV_CASES = ['resnet18', 'resnet50'].map((arch) => {
  const dir = path.join(work, `tv-${arch}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ kind: 'torchvision', arch, spec: ARCHS[arch], K: 7 }));
  return { arch, dir };
});
const PROTO_CASES = [0.99, 0.999].map((m, c) => {
  const K = 6,
    d = 128,
    n = 96,
    rng = new Rng(100 + c);
  const norm = (a: Float32Array, rows: number) => {
    for (let r = 0; r < rows; r++) {
      let z = 0;
      for (let t = 0; t < d; t++) z += a[r * d + t] ** 2;
      z = Math.sqrt(z);
      for (let t = 0; t < d; t++) a[r * d + t] /= z;
    }
    return a;
  };
  const protos =
    c === 0
      ? new Float32Array(K * d)
      : norm(
          Float32Array.from({ length: K * d }, () => rng.normal()),
          K,
        );
  const emb = norm(
    Float32Array.from({ length: n * d }, () => rng.normal()),
    n,
  );
  const labels = Int32Array.from({ length: n }, () => rng.int(K - 1)); // class K-1 never in the batch
  const use = Uint8Array.from({ length: n }, () => (rng.next() < 0.8 ? 1 : 0));
  const dir = path.join(work, `protos-${c}`);
  fs.mkdirSync(dir);
  for (const [f, a] of [
    ['protos.f32', protos],
    ['emb.f32', emb],
    ['labels.i32', labels],
    ['use.u8', use],
  ] as const)
    fs.writeFileSync(path.join(dir, f), bytes(a));
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ kind: 'protos', n, K, d, m }));
  return { K, d, m, protos, emb, labels, use, dir };
});

describe.skipIf(!hasTorch)('cleaning rule: Python (job trainer) = TypeScript (engine)', () => {
  let py: { status: string; stderr: string } = { status: 'not run', stderr: '' };
  beforeAll(() => {
    // one Python start for every case; no __pycache__ left in the repository's scale-out/
    const r = spawnSync(
      PY,
      [
        '-m',
        'mopro_ddp.parity',
        ...inputs.map((x) => x.dir),
        ...PROTO_CASES.map((x) => x.dir),
        ...TV_CASES.map((x) => x.dir),
      ],
      { cwd: path.join(root, 'scale-out'), encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
    );
    py = { status: String(r.status), stderr: r.stderr };
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  for (const x of inputs) {
    it(`K=${x.K}, alpha ${x.alpha}, T ${x.T}: identical statuses and labels`, () => {
      expect(py.status, py.stderr).toBe('0');
      const out = JSON.parse(fs.readFileSync(path.join(x.dir, 'python.json'), 'utf8')) as {
        status: string[];
        label: number[];
      };
      const ts = cleanRule(x.p, x.s, x.given, x.K, x.alpha, x.T);
      expect(out.status).toEqual(ts.status);
      expect(out.label).toEqual(Array.from(ts.label));
      // the arrays exercise every outcome, so agreement is not vacuous
      for (const st of ['clean', 'relabeled', 'ood']) expect(ts.status).toContain(st);
    });
  }
  for (const x of PROTO_CASES) {
    it(`prototype update, m = ${x.m}: the same prototypes (float32 rounding apart)`, () => {
      expect(py.status, py.stderr).toBe('0');
      const b = fs.readFileSync(path.join(x.dir, 'protos_out.f32'));
      const out = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      const ts = updatePrototypes(
        x.protos,
        x.K,
        x.d,
        x.emb,
        x.labels,
        x.m,
        Array.from(x.use, (u) => u === 1),
      );
      let diff = 0,
        moved = 0;
      for (let t = 0; t < ts.length; t++) {
        diff = Math.max(diff, Math.abs(out[t] - ts[t]));
        moved = Math.max(moved, Math.abs(ts[t] - x.protos[t]));
      }
      expect(diff).toBeLessThan(1e-6);
      expect(moved).toBeGreaterThan(1e-3); // the update did something
      // the absent class's row is untouched on both sides
      for (let t = 0; t < x.d; t++) expect(out[(x.K - 1) * x.d + t]).toBe(x.protos[(x.K - 1) * x.d + t]);
    });
  }
  for (const x of TV_CASES) {
    it(`${x.arch}: the trainer's weights are torchvision's layout (strict load, same logits)`, () => {
      expect(py.status, py.stderr).toBe('0');
      const r = JSON.parse(fs.readFileSync(path.join(x.dir, 'torchvision.json'), 'utf8'));
      expect(r.missing).toEqual([]);
      expect(r.unexpected).toEqual([]);
      expect(r.maxDiff).toBeLessThan(1e-4);
    });
  }
});
