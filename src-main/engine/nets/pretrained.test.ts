// --pretrained and --freeze-backbone: the download cache (pinned sha256, progress, offline message) with a
// local fake fetch; bad weight files fail before training with a named error and leave no run folder; a
// frozen-backbone run keeps the backbone bit for bit, records ImageNet normalisation and the weights'
// source + hash, its final pass equals the saved model's full forward, and a second run reuses the
// cached features. Then export-weights writes the run back in torchvision layout.
import * as tf from '@tensorflow/tfjs';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImages } from '../../dataset/decode';
import { exportRunWeights } from './export-weights';
import { pixelBatch } from '../eval/features';
import { createEncoder, disposeEncoder, featureDim, forward, headsForward } from './model';
import { featureStats, foldStandardiser } from '../train/frozen-features';
import { resolveConfig } from '../train/config';
import { Trainer } from '../train/trainer';
import { loadModel } from './model-io';
import {
  guessArch,
  IMAGENET_MEAN,
  IMAGENET_STD,
  IMAGENET_WEIGHTS,
  pretrainedCacheFile,
  resolvePretrained,
  type FetchLike,
} from './pretrained';
import { readSafetensors, writeSafetensors } from './safetensors';
import { exportTorchvisionWeights } from './torchvision-weights';
import { runTraining } from '../train/train-run';
import type { EngineEvent } from '../types';
import { parseCsv } from '../../util/csv';
import { EMBEDDINGS_F32, SAMPLES_HEADER } from '../../../src-shared/run-format';
import { useBackend } from '../backends/test-backends';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-pretrained-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fake fetch serving `body` in chunks (or failing like an offline machine). */
function fakeFetch(body: Uint8Array | Error, calls: string[]): FetchLike {
  return async (url) => {
    calls.push(url);
    if (body instanceof Error) throw body;
    return {
      ok: true,
      status: 200,
      headers: { get: (n: string) => (n.toLowerCase() === 'content-length' ? String(body.length) : null) },
      body: (async function* () {
        for (let i = 0; i < body.length; i += 1000) yield body.subarray(i, i + 1000);
      })(),
    };
  };
}

describe('pretrained weights: download cache', () => {
  const payload = crypto.randomBytes(5000);
  const sha = crypto.createHash('sha256').update(payload).digest('hex');
  beforeAll(() => {
    IMAGENET_WEIGHTS['imagenet:testnet'] = {
      arch: 'resnet18',
      url: 'https://example.invalid/w.safetensors',
      bytes: payload.length,
      sha256: sha,
      origin: 'test',
    };
  });
  afterAll(() => {
    delete IMAGENET_WEIGHTS['imagenet:testnet'];
  });

  it('downloads once with progress, verifies the pinned sha256, then serves the cache', async () => {
    const cacheDir = path.join(tmp, 'c1'),
      calls: string[] = [],
      progress: number[] = [];
    const r = await resolvePretrained('imagenet:testnet', {
      cacheDir,
      fetch: fakeFetch(payload, calls),
      onProgress: (d) => progress.push(d),
    });
    expect(r.file).toBe(pretrainedCacheFile(cacheDir, 'imagenet:testnet'));
    expect(fs.readFileSync(r.file).equals(payload)).toBe(true);
    expect(r).toMatchObject({ sha256: sha, arch: 'resnet18', source: 'imagenet:testnet' });
    expect(progress.at(-1)).toBe(5000);
    expect(calls).toHaveLength(1);
    await resolvePretrained('imagenet:testnet', { cacheDir, fetch: fakeFetch(new Error('must not be called'), calls) });
    expect(calls).toHaveLength(2 - 1);
    // a damaged cache entry is fetched again
    fs.writeFileSync(r.file, 'x');
    await resolvePretrained('imagenet:testnet', { cacheDir, fetch: fakeFetch(payload, calls) });
    expect(calls).toHaveLength(2);
    expect(fs.readFileSync(r.file).equals(payload)).toBe(true);
  });

  it('a download with the wrong hash is not kept; offline says where to put the file', async () => {
    const cacheDir = path.join(tmp, 'c2'),
      calls: string[] = [];
    const bad = Buffer.from(payload);
    bad[10] ^= 1;
    await expect(resolvePretrained('imagenet:testnet', { cacheDir, fetch: fakeFetch(bad, calls) })).rejects.toThrow(
      /does not match the pinned weights .*it was not kept/,
    );
    expect(fs.readdirSync(path.join(cacheDir, 'pretrained'))).toEqual([]);
    const file = pretrainedCacheFile(cacheDir, 'imagenet:testnet');
    const err = await resolvePretrained('imagenet:testnet', {
      cacheDir,
      fetch: fakeFetch(new Error('getaddrinfo ENOTFOUND'), calls),
    }).catch((e: Error) => e.message);
    expect(err).toContain('offline? getaddrinfo ENOTFOUND');
    expect(err).toContain(`put it at ${file}`);
    expect(err).toContain(sha);
    // the hand-placed file is then used without any network
    fs.writeFileSync(file, payload);
    expect(
      (await resolvePretrained('imagenet:testnet', { cacheDir, fetch: fakeFetch(new Error('offline'), calls) })).file,
    ).toBe(file);
    await expect(resolvePretrained('imagenet:resnet99', { cacheDir })).rejects.toThrow(
      /unknown name; use imagenet:resnet18 or imagenet:resnet50/,
    );
    await expect(resolvePretrained(path.join(tmp, 'nope.safetensors'), { cacheDir })).rejects.toThrow(/file not found/);
  });

  it('the real names pin torchvision ImageNet weights on the Hub', () => {
    for (const [name, w] of Object.entries(IMAGENET_WEIGHTS).filter(([n]) => n !== 'imagenet:testnet')) {
      expect(w.url).toMatch(
        /^https:\/\/huggingface\.co\/timm\/resnet(18|50)\.tv_in1k\/resolve\/[0-9a-f]{40}\/model\.safetensors$/,
      );
      expect(w.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(name.endsWith(w.arch)).toBe(true);
    }
    expect(guessArch(['conv1.weight', 'layer1.0.conv1.weight', 'layer1.0.conv3.weight'])).toBe('resnet50');
    expect(guessArch(['module.conv1.weight', 'layer1.0.conv1.weight'])).toBe('resnet18');
    expect(guessArch(['features.denseblock1.denselayer1.conv.1.weight'])).toBe('densenet121');
    expect(guessArch(['encoder.weight'])).toBeNull();
  });
});

describe('--unfreeze-after (small arch, weights in the same layout)', () => {
  it('trains the heads on frozen features first, then the whole network', async () => {
    await useBackend('wasm');
    const data = path.join(tmp, 'udata'),
      sample = path.resolve(__dirname, '../../../resources/sample');
    for (const c of ['Bag', 'Trouser']) {
      fs.mkdirSync(path.join(data, c), { recursive: true });
      for (const f of fs.readdirSync(path.join(sample, c)).sort().slice(0, 16))
        fs.copyFileSync(path.join(sample, c, f), path.join(data, c, f));
    }
    const enc = createEncoder('resnet-micro', 3, 2, 5),
      w = path.join(tmp, 'micro.safetensors');
    const stem = Float32Array.from(enc.params.get('stem/w')!.dataSync());
    fs.writeFileSync(w, writeSafetensors(exportTorchvisionWeights(enc), { arch: 'resnet-micro' }));
    disposeEncoder(enc);
    const events: EngineEvent[] = [],
      out = path.join(tmp, 'unfreeze');
    const r = await runTraining(
      {
        dataset: data,
        out,
        method: 'mopro',
        epochs: 2,
        batchSize: 8,
        imageSize: 16,
        backend: 'wasm',
        cacheDir: path.join(tmp, 'ucache'),
        pretrained: w,
        freezeBackbone: true,
        unfreezeAfter: 1,
      },
      (e) => events.push(e),
      { shouldStop: () => false },
    );
    expect(r.state).toBe('done');
    const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(run.config).toMatchObject({ arch: 'resnet-micro', freezeBackbone: true, unfreezeAfter: 1 });
    expect(run.epochs).toHaveLength(2);
    expect(events.some((e) => e.type === 'log' && /epoch 2: backbone unfrozen/.test(e.message))).toBe(true);
    const m = loadModel(out);
    try {
      expect(Array.from(m.enc.params.get('stem/w')!.dataSync())).not.toEqual(Array.from(stem));
    } finally {
      disposeEncoder(m.enc);
    }
  });
});

describe('frozen heads on standardised features', () => {
  it('foldStandardiser: the heads give the same outputs on raw and on standardised features, and back', async () => {
    await useBackend('wasm');
    const enc = createEncoder('resnet-micro', 1, 4, 3),
      dim = featureDim('resnet-micro'),
      n = 20;
    const views = [
      Float32Array.from({ length: n * dim }, (_, j) => Math.max(0, 3 * Math.sin(j * 1.7) + (j % dim) * 0.05)),
    ];
    const st = featureStats(
      views,
      Int32Array.from({ length: n }, (_, i) => i),
      dim,
    );
    const raw = tf.tensor2d(views[0], [n, dim]),
      std = tf.tidy(() => tf.div(tf.sub(raw, tf.tensor1d(st.mean)), tf.tensor1d(st.std)) as tf.Tensor2D);
    const before = tf.tidy(() => headsForward(enc, raw).logits.dataSync().slice());
    foldStandardiser(enc, st, 'standardised');
    const onStd = tf.tidy(() => headsForward(enc, std).logits.dataSync().slice());
    foldStandardiser(enc, st, 'raw');
    const back = tf.tidy(() => headsForward(enc, raw).logits.dataSync().slice());
    let d1 = 0,
      d2 = 0;
    for (let i = 0; i < before.length; i++) {
      d1 = Math.max(d1, Math.abs(onStd[i] - before[i]));
      d2 = Math.max(d2, Math.abs(back[i] - before[i]));
    }
    expect(d1).toBeLessThan(1e-4);
    expect(d2).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(st.std))).toBeGreaterThan(0.5);
    raw.dispose();
    std.dispose();
    disposeEncoder(enc);
  });
});

describe('frozen-backbone trainer steps', () => {
  it('only the heads move, prototypes and queue work, and no tensor grows across steps', async () => {
    await useBackend('wasm');
    const cfg = resolveConfig({
      method: 'mopro',
      epochs: 3,
      batchSize: 8,
      imageSize: 16,
      arch: 'resnet-micro',
      backend: 'wasm',
      n: 48,
      k: 3,
      channels: 1,
      nativeSize: 16,
    }).config;
    cfg.cleanStartEpoch = 1;
    cfg.freezeBackbone = true;
    const n = 48,
      dim = featureDim('resnet-micro');
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const views = [0, 1].map((v) =>
      Float32Array.from({ length: n * dim }, (_, j) =>
        Math.max(0, Math.sin(j * 0.37 + v) + (Math.floor(j / dim) % 3 === j % 3 ? 1 : 0)),
      ),
    );
    const t = new Trainer(
      cfg,
      {
        pixels: new Uint8Array(n * 16 * 16),
        n,
        h: 16,
        w: 16,
        c: 1,
        labels,
        fixed: new Uint8Array(n),
        trainIdx: Int32Array.from({ length: n }, (_, i) => i),
        numClasses: 3,
      },
      { mean: [0.5], std: [0.25] },
    );
    t.frozen = { views, dim };
    const stem = Array.from(t.query.params.get('stem/w')!.dataSync()),
      keyStem = Array.from(t.key!.params.get('stem/w')!.dataSync());
    const cls = Array.from(t.query.params.get('cls/w')!.dataSync());
    await t.step();
    await t.step();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) await t.step();
    expect(tf.memory().numTensors).toBe(n0);
    expect(t.state.epoch).toBe(2);
    expect(Array.from(t.query.params.get('stem/w')!.dataSync())).toEqual(stem);
    expect(Array.from(t.key!.params.get('stem/w')!.dataSync())).toEqual(keyStem);
    expect(Array.from(t.query.params.get('cls/w')!.dataSync())).not.toEqual(cls);
    expect(t.protos.some((x) => x !== 0)).toBe(true);
    t.dispose();
  });
});

describe('train --pretrained --freeze-backbone (in-thread, wasm, 32 px)', () => {
  const data = path.join(tmp, 'data'),
    cacheDir = path.join(tmp, 'cache');
  const weights = path.join(tmp, 'r18.safetensors');
  const sample = path.resolve(__dirname, '../../../resources/sample');
  const classes = ['Bag', 'Sneaker', 'Trouser'];
  const base = {
    dataset: data,
    method: 'mopro' as const,
    epochs: 2,
    batchSize: 16,
    imageSize: 32,
    backend: 'wasm' as const,
    arch: 'resnet18',
    cacheDir,
    seed: 3,
  };
  const ctl = { shouldStop: () => false };
  let expectedStem: Float32Array;

  beforeAll(async () => {
    await useBackend('wasm');
    for (const c of classes) {
      fs.mkdirSync(path.join(data, c), { recursive: true });
      for (const f of fs.readdirSync(path.join(sample, c)).sort().slice(0, 24))
        fs.copyFileSync(path.join(sample, c, f), path.join(data, c, f));
    }
    // "pretrained" weights: an engine ResNet-18 with random BN statistics, in torchvision layout with 1000 classes
    const enc = createEncoder('resnet18', 3, 1000, 42);
    tf.tidy(() => {
      for (const [n, v] of enc.buffers)
        v.assign(tf.randomUniform(v.shape, n.endsWith('var') ? 0.5 : -0.2, n.endsWith('var') ? 2 : 0.2, 'float32', 9));
    });
    expectedStem = Float32Array.from(enc.params.get('stem/w')!.dataSync());
    fs.writeFileSync(weights, writeSafetensors(exportTorchvisionWeights(enc), { arch: 'resnet18' }));
    disposeEncoder(enc);
  });

  it('bad files fail before training, naming the problem, and leave no run folder', async () => {
    const n0 = tf.memory().numTensors;
    const trunc = path.join(tmp, 'trunc.safetensors');
    const full = fs.readFileSync(weights);
    fs.writeFileSync(trunc, full.subarray(0, full.length - 100));
    const out1 = path.join(tmp, 'bad1');
    await expect(runTraining({ ...base, out: out1, pretrained: trunc }, () => {}, ctl)).rejects.toThrow(
      /trunc\.safetensors: truncated file: tensor ".*" data_offsets/,
    );
    expect(fs.existsSync(out1)).toBe(false);
    const png = path.join(tmp, 'not.safetensors');
    fs.copyFileSync(path.join(data, 'Bag', fs.readdirSync(path.join(data, 'Bag'))[0]), png);
    await expect(runTraining({ ...base, out: out1, pretrained: png }, () => {}, ctl)).rejects.toThrow(
      /not a safetensors file/,
    );
    expect(fs.existsSync(out1)).toBe(false);
    // weights of another architecture: resnet18 weights for --arch resnet34
    const out2 = path.join(tmp, 'bad2');
    await expect(
      runTraining({ ...base, arch: 'resnet34', out: out2, pretrained: weights }, () => {}, ctl),
    ).rejects.toThrow(
      /not resnet34 weights in torchvision layout: tensor "layer1\.2\.conv1\.weight" \(\[64, 64, 3, 3\]\) is missing from the file/,
    );
    expect(fs.existsSync(out2)).toBe(false);
    await expect(
      runTraining({ ...base, arch: undefined, out: out2, freezeBackbone: true }, () => {}, ctl),
    ).rejects.toThrow(/--freeze-backbone needs --pretrained/);
    await expect(
      runTraining({ ...base, out: out2, pretrained: weights, unfreezeAfter: 1 }, () => {}, ctl),
    ).rejects.toThrow(/--unfreeze-after needs --freeze-backbone/);
    expect(fs.existsSync(out2)).toBe(false);
    // the encoder the mismatched weights were loaded into is freed with the refused run
    expect(tf.memory().numTensors).toBe(n0);
  });

  it('trains the heads on cached features; backbone unchanged; final pass = saved model; second run hits the cache', async () => {
    const out = path.join(tmp, 'run1'),
      events: EngineEvent[] = [];
    const r = await runTraining(
      { ...base, out, pretrained: weights, freezeBackbone: true },
      (e) => events.push(e),
      ctl,
    );
    expect(r.state).toBe('done');
    expect(events.some((e) => e.type === 'log' && /frozen features: [\d.]+ images\/s/.test(e.message))).toBe(true);
    expect(events.filter((e) => e.type === 'phase' && e.phase === 'features').at(-1)).toMatchObject({
      done: 144,
      total: 144,
    });
    const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(run.normalisation).toEqual({ mean: IMAGENET_MEAN, std: IMAGENET_STD });
    expect(run.config.channels).toBe(3); // grey sample images fed as 3 equal channels
    expect(run.pretrained).toMatchObject({
      source: weights,
      arch: 'resnet18',
      sha256: crypto.createHash('sha256').update(fs.readFileSync(weights)).digest('hex'),
      loaded: { backbone: 100, heads: ['projection'] },
    });
    expect(run.pretrained.loaded.skipped[0]).toMatch(
      /classifier: "fc.weight" is \[1000, 512\] in the file, \[3, 512\] here/,
    );
    expect(run.frozenBackbone).toMatchObject({ cached: false, dim: 512 });
    expect(run.epochs).toHaveLength(2);
    expect(run.adaptations.some((a: string) => /grey images fed as 3 equal channels/.test(a))).toBe(true);
    const { meta, enc } = loadModel(out);
    try {
      expect(meta.mean).toEqual(IMAGENET_MEAN);
      expect(Array.from(enc.params.get('stem/w')!.dataSync())).toEqual(Array.from(expectedStem));
      // heads did train
      const file = readSafetensors(fs.readFileSync(weights)).tensors;
      expect(Array.from(enc.params.get('proj2/b')!.dataSync())).not.toEqual(Array.from(file.get('proj.2.bias')!.data));
      // the run's embeddings (heads on cached features) = the saved model's full eval forward on the images
      const rows = parseCsv(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8'), SAMPLES_HEADER, 'samples.csv');
      const load = await loadImages(
        rows.slice(0, 8).map((x) => ({ abs: path.join(data, ...x.path.split('/')), rel: x.path })),
        { size: 32, channels: 3 },
      );
      const m = tf.tensor1d(meta.mean),
        s = tf.tensor1d(meta.std);
      const emb = tf.tidy(() =>
        forward(enc, pixelBatch(load.pixels, [0, 1, 2, 3, 4, 5, 6, 7], 32, 3, m, s), false)
          .emb.dataSync()
          .slice(),
      );
      m.dispose();
      s.dispose();
      const saved = new Float32Array(fs.readFileSync(path.join(out, EMBEDDINGS_F32)).buffer.slice(0, 8 * 128 * 4));
      let d = 0;
      for (let i = 0; i < emb.length; i++) d = Math.max(d, Math.abs(emb[i] - saved[i]));
      expect(d).toBeLessThan(1e-4);
    } finally {
      disposeEncoder(enc);
    }
    // second run: same weights and images -> cached features
    const r2 = await runTraining(
      { ...base, epochs: 1, out: path.join(tmp, 'run2'), pretrained: weights, freezeBackbone: true },
      () => {},
      ctl,
    );
    expect(r2.state).toBe('done');
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'run2', 'run.json'), 'utf8')).frozenBackbone.cached).toBe(true);

    // export-weights: torchvision layout + sidecar
    const ex = exportRunWeights(out, path.join(tmp, 'model.safetensors'));
    const back = readSafetensors(fs.readFileSync(ex.file)).tensors;
    expect(back.get('fc.weight')!.shape).toEqual([3, 512]);
    expect(Array.from(back.get('layer1.0.bn1.running_var')!.data)).toEqual(
      Array.from(readSafetensors(fs.readFileSync(weights)).tensors.get('layer1.0.bn1.running_var')!.data),
    );
    expect(JSON.parse(fs.readFileSync(ex.sidecar, 'utf8'))).toMatchObject({
      arch: 'resnet18',
      torchvision: true,
      classes,
      imageSize: 32,
      channels: 3,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    });
    expect(() => exportRunWeights(out, path.join(tmp, 'model.bin'))).toThrow(/ending in \.safetensors/);
  });
});
