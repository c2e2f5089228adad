// torchvision layout <-> engine encoder: the name map covers every tensor once with torchvision's names,
// layouts transpose correctly, export -> load round-trips bit for bit, and wrong files fail naming the
// first missing / mismatched / foreign tensor with both shapes, leaving the encoder untouched.
// (PyTorch parity of the forward pass: tests/integration/engine-torch-parity.test.ts.)
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../backends/test-backends';
import { createEncoder, disposeEncoder, type Encoder } from './model';
import { readSafetensors, writeSafetensors } from './safetensors';
import {
  exportTorchvisionWeights,
  hwioToOihw,
  loadTorchvisionWeights,
  nameMap,
  oihwToHwio,
  canonicalTorchNames,
  torchName,
  type NamedArray,
} from './torchvision-weights';

const asNamed = (m: Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>) =>
  new Map(
    [...m].map(
      ([k, v]) =>
        [
          k,
          { shape: v.shape, data: v.data instanceof BigInt64Array ? Float32Array.from(v.data, Number) : v.data },
        ] as const,
    ),
  );

describe('torchvision weights', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  const encs: Encoder[] = [];
  const make = (arch: string, c = 3, k = 10, seed = 0) => {
    const e = createEncoder(arch, c, k, seed);
    encs.push(e);
    return e;
  };
  afterAll(() => {
    for (const e of encs) disposeEncoder(e);
  });

  it('resnet18: torchvision state-dict names, each engine tensor mapped once', () => {
    const e = make('resnet18');
    const m = nameMap(e);
    const torch = m.map((x) => x.torch);
    expect(new Set(torch).size).toBe(torch.length);
    // torchvision resnet18 state_dict minus num_batches_tracked: 102 tensors (62 params + 40 BN buffers),
    // plus MoPro's projection head (4)
    expect(m.filter((x) => !x.head || x.head === 'cls').length).toBe(102);
    for (const n of [
      'conv1.weight',
      'bn1.running_var',
      'layer1.0.conv1.weight',
      'layer1.1.bn2.bias',
      'layer2.0.downsample.0.weight',
      'layer2.0.downsample.1.running_mean',
      'layer4.1.conv2.weight',
      'fc.weight',
      'fc.bias',
      'proj.0.weight',
      'proj.2.bias',
    ])
      expect(torch).toContain(n);
    expect(torch).not.toContain('layer1.0.downsample.0.weight');
    // the big archs name by name (building them costs ~30M random numbers; every one of their tensors is
    // loaded from a torchvision file in tests/integration/engine-torch-parity.test.ts)
    const dn = (e: string) => torchName('densenet121', e);
    expect(
      ['stem/w', 'stem/bn/gamma', 'd0l0/bn1/mean', 'd3l15/c2/w', 't2/c/w', 'final/bn/beta', 'cls/w'].map(dn),
    ).toEqual([
      'features.conv0.weight',
      'features.norm0.weight',
      'features.denseblock1.denselayer1.norm1.running_mean',
      'features.denseblock4.denselayer16.conv2.weight',
      'features.transition3.conv.weight',
      'features.norm5.bias',
      'classifier.weight',
    ]);
    expect(['s2b5/c3/w', 's0b0/sc/w', 's0b0/scbn/var', 'cls/b'].map((e) => torchName('resnet50', e))).toEqual([
      'layer3.5.conv3.weight',
      'layer1.0.downsample.0.weight',
      'layer1.0.downsample.1.running_var',
      'fc.bias',
    ]);
  });

  it('OIHW <-> HWIO transposition', () => {
    const o = 2,
      i = 3,
      h = 2,
      w = 2;
    const src = Float32Array.from({ length: o * i * h * w }, (_, n) => n);
    const hwio = oihwToHwio(src, [o, i, h, w]);
    // HWIO[y][x][b][a] == OIHW[a][b][y][x]
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            expect(hwio[((y * w + x) * i + b) * o + a]).toBe(src[((a * i + b) * h + y) * w + x]);
          }
    expect(Array.from(hwioToOihw(hwio, [h, w, i, o]))).toEqual(Array.from(src));
  });

  it('export -> safetensors -> load round-trips every tensor', () => {
    const a = make('resnet18', 3, 4, 1),
      b = make('resnet18', 3, 4, 2);
    // non-trivial BN statistics in the source
    tf.tidy(() => {
      for (const [n, v] of a.buffers)
        v.assign(tf.randomUniform(v.shape, n.endsWith('var') ? 0.5 : -0.3, n.endsWith('var') ? 2 : 0.3, 'float32', 5));
    });
    const file = readSafetensors(writeSafetensors(exportTorchvisionWeights(a)));
    expect(file.tensors.get('conv1.weight')!.shape).toEqual([64, 3, 7, 7]);
    expect(file.tensors.get('fc.weight')!.shape).toEqual([4, 512]);
    expect(file.tensors.get('bn1.num_batches_tracked')!.dtype).toBe('I64');
    const rep = loadTorchvisionWeights(b, file.tensors, { file: 'm.safetensors' });
    expect(rep.heads).toEqual(['classifier', 'projection']);
    expect(rep.backbone).toBe(100);
    // every tensor equal bit for bit (the forward pass against PyTorch: tests/integration/engine-torch-parity.test.ts)
    // (a plain loop: vitest's deep equality on million-element typed arrays takes minutes)
    const differing: string[] = [];
    for (const kind of ['params', 'buffers'] as const)
      for (const [n, v] of a[kind]) {
        const x = v.dataSync(),
          y = b[kind].get(n)!.dataSync();
        if (x.length !== y.length || x.some((t, i) => !Object.is(t, y[i]))) differing.push(n);
      }
    expect(differing).toEqual([]);
  });

  it('heads: other class count -> classifier left new; heads "none" loads only the backbone', () => {
    const src = make('resnet18', 3, 1000, 1);
    const file = asNamed(exportTorchvisionWeights(src));
    const dst = make('resnet18', 3, 7, 2);
    const before = Array.from(dst.params.get('cls/w')!.dataSync());
    const rep = loadTorchvisionWeights(dst, file);
    expect(rep.heads).toEqual(['projection']);
    expect(rep.skipped[0]).toMatch(/classifier: "fc.weight" is \[1000, 512\] in the file, \[7, 512\] here/);
    expect(Array.from(dst.params.get('cls/w')!.dataSync())).toEqual(before);
    const rep2 = loadTorchvisionWeights(make('resnet18', 3, 7, 3), file, { heads: 'none' });
    expect(rep2.heads).toEqual([]);
  });

  it('wrong architecture / missing tensor / channels: named error with both shapes, encoder untouched', () => {
    const r18 = asNamed(exportTorchvisionWeights(make('resnet18', 3, 10, 1)));
    // ResNet-50 / ResNet-34 files as far as the loader sees them (building those nets here costs ~45M random
    // numbers): a 1x1 first conv in layer1.0, or a third block in layer1
    const r50 = new Map(r18);
    r50.set('layer1.0.conv1.weight', { shape: [64, 64, 1, 1], data: new Float32Array(64 * 64) });
    const r34 = new Map(r18);
    r34.set('layer1.2.conv1.weight', { shape: [64, 64, 3, 3], data: new Float32Array(64 * 64 * 9) });
    const dst = make('resnet18', 3, 10, 9);
    const snap = Array.from(dst.params.get('stem/w')!.dataSync());
    expect(() => loadTorchvisionWeights(dst, r50, { file: 'r50.safetensors' })).toThrow(
      /^r50\.safetensors: not resnet18 weights: tensor "layer1\.0\.conv1\.weight" is \[64, 64, 1, 1\] in the file, resnet18 needs \[64, 64, 3, 3\]$/,
    );
    expect(() => loadTorchvisionWeights(dst, r34)).toThrow(
      /tensor "layer1\.2\.conv1\.weight" \[64, 64, 3, 3\] in the file is not part of resnet18/,
    );
    const missing = new Map(r18);
    missing.delete('layer3.1.bn2.running_var');
    expect(() => loadTorchvisionWeights(dst, missing)).toThrow(
      /tensor "layer3\.1\.bn2\.running_var" \(\[256\]\) is missing from the file/,
    );
    const grey = make('resnet18', 1, 10, 9);
    expect(() => loadTorchvisionWeights(grey, r18)).toThrow(
      /"conv1\.weight" is \[64, 3, 7, 7\] in the file, resnet18 needs \[64, 1, 7, 7\] \(3 vs 1 input channels\)/,
    );
    expect(() => loadTorchvisionWeights(dst, r18, { heads: 'all' })).not.toThrow();
    expect(Array.from(dst.params.get('stem/w')!.dataSync())).not.toEqual(snap);
    const fresh = make('resnet18', 3, 5, 9);
    const s2 = Array.from(fresh.params.get('stem/w')!.dataSync());
    expect(() => loadTorchvisionWeights(fresh, r50)).toThrow();
    expect(Array.from(fresh.params.get('stem/w')!.dataSync())).toEqual(s2);
  });

  it('accepts "module." prefixes and torchvision\'s old DenseNet names', () => {
    const m = new Map<string, NamedArray>([
      ['module.conv1.weight', { shape: [1], data: new Float32Array(1) }],
      ['features.denseblock1.denselayer1.norm.1.running_mean', { shape: [1], data: new Float32Array(1) }],
      ['features.denseblock1.denselayer2.conv.2.weight', { shape: [1], data: new Float32Array(1) }],
    ]);
    expect([...canonicalTorchNames(m).keys()]).toEqual([
      'conv1.weight',
      'features.denseblock1.denselayer1.norm1.running_mean',
      'features.denseblock1.denselayer2.conv2.weight',
    ]);
  });

  it('no tensor leak across load and export', () => {
    const e = make('resnet18', 3, 3, 4);
    const file = asNamed(exportTorchvisionWeights(e));
    const n0 = tf.memory().numTensors;
    loadTorchvisionWeights(e, file);
    exportTorchvisionWeights(e);
    expect(tf.memory().numTensors).toBe(n0);
  });
});
