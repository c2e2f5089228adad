// PyTorch parity (needs Debian's python3-torch + python3-torchvision; skipped, not passed, without them):
// 1. a torchvision ResNet-18 with seeded random weights and random BN statistics, eval mode, written to
//    .safetensors by scripts/torch (hand-written writer), gives the same logits in TF.js (max |diff| <= 1e-4);
//    resnet50 and densenet121 likewise (error relative to the logit scale: random BN statistics make large logits);
// 2. the reverse: an engine ResNet-18 exported by `export-weights` loads strictly into torchvision and gives
//    the engine's logits.
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRunWeights } from '../../src-main/engine/nets/export-weights';
import { createEncoder, disposeEncoder, forward, type Encoder } from '../../src-main/engine/nets/model';
import { saveModel } from '../../src-main/engine/nets/model-io';
import { readSafetensors } from '../../src-main/engine/nets/safetensors';
import { loadTorchvisionWeights } from '../../src-main/engine/nets/torchvision-weights';
import { useBackend } from '../../src-main/engine/backends/test-backends';

const PY = '/usr/bin/python3'; // a pyenv python3 without torch may come first on PATH
const SCRIPTS = path.resolve('scripts/torch');
const probe = fs.existsSync(PY) ? spawnSync(PY, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }) : null;
const haveTorch = probe?.status === 0;
if (!haveTorch)
  console.log(
    'PyTorch parity tests NOT RUN: python3-torchvision missing (apt-get install -y python3-torch python3-torchvision); counted as skipped',
  );

function py(args: string[]): string {
  const r = spawnSync(PY, args, {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (r.status !== 0) throw new Error(`${PY} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** NCHW -> NHWC */
function nhwc(t: { shape: number[]; data: Float32Array }): tf.Tensor4D {
  return tf.tidy(
    () => tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D,
  );
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe.skipIf(!haveTorch)('PyTorch parity (torchvision ResNet-18)', () => {
  let dir = '';
  const encs: Encoder[] = [];
  beforeAll(async () => {
    await useBackend('wasm');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-parity-'));
    py([
      path.join(SCRIPTS, 'make_parity_fixture.py'),
      dir,
      '--arch',
      'resnet18',
      '--classes',
      '10',
      '--size',
      '48',
      '--batch',
      '2',
      '--seed',
      '0',
    ]);
  });
  afterAll(() => {
    for (const e of encs) disposeEncoder(e);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('torchvision weights -> TF.js: same logits and features (max |diff| <= 1e-4)', () => {
    const w = readSafetensors(fs.readFileSync(path.join(dir, 'weights.safetensors')), 'weights.safetensors');
    const io = readSafetensors(fs.readFileSync(path.join(dir, 'io.safetensors'))).tensors;
    const enc = createEncoder('resnet18', 3, 10, 7);
    encs.push(enc);
    const rep = loadTorchvisionWeights(enc, w.tensors, { file: 'weights.safetensors' });
    expect(rep.heads).toContain('classifier');
    expect(rep.backbone).toBe(100);
    // the fixture's BN statistics are not the defaults (else a mean/var mix-up could pass)
    expect(Math.max(...Array.from(w.tensors.get('layer2.1.bn1.running_var')!.data))).toBeGreaterThan(1.2);
    const x = nhwc(io.get('input')!);
    const n0 = tf.memory().numTensors;
    const { logits, feat } = tf.tidy(() => {
      const o = forward(enc, x, false);
      return { logits: o.logits.dataSync().slice(), feat: o.feat.dataSync().slice() };
    });
    expect(tf.memory().numTensors).toBe(n0);
    x.dispose();
    const want = io.get('logits')!.data;
    expect(logits.length).toBe(20);
    const d = maxAbsDiff(logits, want);
    console.log(
      `parity resnet18 48px: max |logit diff| ${d.toExponential(2)} (logit scale ${maxAbsDiff(want, new Float32Array(want.length)).toFixed(3)}), max |feature diff| ${maxAbsDiff(feat, io.get('feat')!.data).toExponential(2)}`,
    );
    expect(d).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(feat, io.get('feat')!.data)).toBeLessThanOrEqual(1e-4);
  });

  it('resnet50 (bottleneck v1.5) and densenet121 too (float32 error relative to the logit scale)', () => {
    for (const arch of ['resnet50', 'densenet121']) {
      const d = path.join(dir, arch);
      py([
        path.join(SCRIPTS, 'make_parity_fixture.py'),
        d,
        '--arch',
        arch,
        '--classes',
        '5',
        '--size',
        '48',
        '--batch',
        '2',
        '--seed',
        '1',
      ]);
      const w = readSafetensors(fs.readFileSync(path.join(d, 'weights.safetensors')), `${arch}.safetensors`);
      const io = readSafetensors(fs.readFileSync(path.join(d, 'io.safetensors'))).tensors;
      const enc = createEncoder(arch, 3, 5, 7);
      encs.push(enc);
      expect(loadTorchvisionWeights(enc, w.tensors).heads).toContain('classifier');
      const x = nhwc(io.get('input')!);
      const logits = tf.tidy(() => forward(enc, x, false).logits.dataSync().slice());
      x.dispose();
      const want = io.get('logits')!.data,
        scale = Math.max(1, ...Array.from(want, Math.abs)),
        diff = maxAbsDiff(logits, want);
      console.log(`parity ${arch} 48px: max |logit diff| ${diff.toExponential(2)}, logit scale ${scale.toFixed(2)}`);
      expect(diff).toBeLessThanOrEqual(2e-5 * scale);
    }
  });

  it('engine -> export-weights -> torchvision (strict load): same logits', () => {
    const enc = createEncoder('resnet18', 3, 3, 11);
    encs.push(enc);
    tf.tidy(() => {
      for (const [n, v] of enc.buffers)
        v.assign(tf.randomUniform(v.shape, n.endsWith('var') ? 0.5 : -0.3, n.endsWith('var') ? 2 : 0.3, 'float32', 13));
    });
    const run = path.join(dir, 'run');
    fs.mkdirSync(run);
    saveModel(
      run,
      {
        format: 'mopro-studio-model/1',
        arch: 'resnet18',
        method: 'mopro',
        classes: ['a', 'b', 'c'],
        imageSize: 48,
        channels: 3,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        tau: 0.1,
        alpha: 0.5,
        threshold: 0.6,
        oodScore: 'knn-label',
      },
      enc,
      new Float32Array(3 * 128),
    );
    const ex = exportRunWeights(run, path.join(dir, 'model.safetensors'));
    expect(JSON.parse(fs.readFileSync(ex.sidecar, 'utf8'))).toMatchObject({
      arch: 'resnet18',
      torchvision: true,
      classes: ['a', 'b', 'c'],
      imageSize: 48,
      mean: [0.485, 0.456, 0.406],
    });
    const out = JSON.parse(
      py([
        path.join(SCRIPTS, 'check_export.py'),
        ex.file,
        path.join(dir, 'io.safetensors'),
        path.join(dir, 'torch-logits.safetensors'),
      ]),
    );
    expect(out.proj).toEqual(['proj.0.bias', 'proj.0.weight', 'proj.2.bias', 'proj.2.weight']);
    const torchLogits = readSafetensors(fs.readFileSync(path.join(dir, 'torch-logits.safetensors'))).tensors.get(
      'logits',
    )!;
    const x = nhwc(readSafetensors(fs.readFileSync(path.join(dir, 'io.safetensors'))).tensors.get('input')!);
    const mine = tf.tidy(() => forward(enc, x, false).logits.dataSync().slice());
    x.dispose();
    expect(torchLogits.shape).toEqual([2, 3]);
    const d = maxAbsDiff(mine, torchLogits.data);
    console.log(`export round trip resnet18 48px: max |logit diff| ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
  });
});
