// torchvision layout <-> the engine's encoder. model.ts builds resnet18/34/50/101 and densenet121 with
// torchvision's modules in torchvision's order, so each engine tensor has exactly one torchvision name:
//   stem/w -> conv1.weight (ResNet) | features.conv0.weight (DenseNet)
//   s{i}b{j}/c{n}/w -> layer{i+1}.{j}.conv{n}.weight, s{i}b{j}/bn{n} -> layer{i+1}.{j}.bn{n}
//   s{i}b{j}/sc, /scbn -> layer{i+1}.{j}.downsample.0 / .1
//   d{b}l{l}/bn{n}, /c{n} -> features.denseblock{b+1}.denselayer{l+1}.norm{n} / .conv{n}
//   t{b}/bn, /c -> features.transition{b+1}.norm / .conv; final/bn -> features.norm5
//   BN gamma/beta/mean/var -> weight/bias/running_mean/running_var
//   cls -> fc (ResNet) | classifier (DenseNet); proj1/proj2 (MoPro's projection head) -> proj.0 / proj.2
// Layouts: conv OIHW (torch) <-> HWIO (TF); linear [out, in] (torch) <-> [in, out] (engine).
import * as tf from '@tensorflow/tfjs';
import { ARCHS, type Encoder } from './model';
import type { WriteTensor } from './safetensors';

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

type Kind = 'conv' | 'linear' | 'vec';
export interface NameMapEntry {
  engine: string;
  torch: string;
  kind: Kind;
  buffer: boolean;
  head: 'cls' | 'proj' | null;
}

const BN_SUFFIX: Record<string, string> = { gamma: 'weight', beta: 'bias', mean: 'running_mean', var: 'running_var' };

/** The torchvision name of one engine tensor (throws on a name the layout does not know). */
export function torchName(arch: string, engine: string): string {
  const dense = !!ARCHS[arch]?.dense;
  const parts = engine.split('/');
  const last = parts[parts.length - 1];
  const leaf = (mod: string) => `${mod}.${last === 'w' ? 'weight' : last === 'b' ? 'bias' : BN_SUFFIX[last]}`;
  const head = parts[0];
  if (head === 'cls') return leaf(dense ? 'classifier' : 'fc');
  if (head === 'proj1') return leaf('proj.0');
  if (head === 'proj2') return leaf('proj.2');
  if (head === 'stem')
    return leaf(parts[1] === 'bn' ? (dense ? 'features.norm0' : 'bn1') : dense ? 'features.conv0' : 'conv1');
  if (head === 'final') return leaf('features.norm5');
  let m = /^s(\d+)b(\d+)$/.exec(head);
  if (m) {
    const mod =
      parts[1] === 'sc' ? 'downsample.0' : parts[1] === 'scbn' ? 'downsample.1' : parts[1].replace(/^c(\d)$/, 'conv$1');
    return leaf(`layer${+m[1] + 1}.${m[2]}.${mod}`);
  }
  m = /^d(\d+)l(\d+)$/.exec(head);
  if (m)
    return leaf(
      `features.denseblock${+m[1] + 1}.denselayer${+m[2] + 1}.${parts[1].replace(/^bn(\d)$/, 'norm$1').replace(/^c(\d)$/, 'conv$1')}`,
    );
  m = /^t(\d+)$/.exec(head);
  if (m) return leaf(`features.transition${+m[1] + 1}.${parts[1] === 'bn' ? 'norm' : 'conv'}`);
  throw new Error(`internal: no torchvision name for engine tensor ${engine}`);
}

/** Every tensor of the encoder with its torchvision name, parameters then buffers. */
export function nameMap(enc: Encoder): NameMapEntry[] {
  const out: NameMapEntry[] = [];
  for (const [kind, map] of [
    ['params', enc.params],
    ['buffers', enc.buffers],
  ] as const) {
    for (const [n, v] of map) {
      const k: Kind = v.rank === 4 ? 'conv' : v.rank === 2 ? 'linear' : 'vec';
      const head = n.startsWith('cls/') ? 'cls' : n.startsWith('proj') ? 'proj' : null;
      out.push({ engine: n, torch: torchName(enc.arch, n), kind: k, buffer: kind === 'buffers', head });
    }
  }
  return out;
}

/** The torch shape of an engine tensor. */
export function torchShape(kind: Kind, engineShape: number[]): number[] {
  if (kind === 'conv') {
    const [h, w, i, o] = engineShape;
    return [o, i, h, w];
  }
  if (kind === 'linear') return [engineShape[1], engineShape[0]];
  return engineShape;
}

/** OIHW -> HWIO */
export function oihwToHwio(src: Float32Array, [o, i, h, w]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          out[((y * w + x) * i + b) * o + a] = src[((a * i + b) * h + y) * w + x];
        }
  return out;
}

/** HWIO -> OIHW */
export function hwioToOihw(src: Float32Array, [h, w, i, o]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let b = 0; b < i; b++)
        for (let a = 0; a < o; a++) {
          out[((a * i + b) * h + y) * w + x] = src[((y * w + x) * i + b) * o + a];
        }
  return out;
}

/** [r, c] -> [c, r] */
export function transpose2d(src: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let a = 0; a < r; a++) for (let b = 0; b < c; b++) out[b * r + a] = src[a * c + b];
  return out;
}

/**
 * Names as other writers spell them: a DataParallel "module." prefix, and torchvision's old DenseNet names
 * ("denselayer1.norm.1.weight"; torchvision renames them the same way when it loads a state dict).
 */
export function canonicalTorchNames<T>(tensors: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [n, t] of tensors) {
    const c = n
      .replace(/^module\./, '')
      .replace(
        /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$/,
        (_, a: string, b: string) => `${a}${b}`,
      );
    out.set(c, t);
  }
  return out;
}

export interface LoadReport {
  /** backbone tensors (parameters + BN statistics) loaded */
  backbone: number;
  /** heads taken from the file ('classifier', 'projection') */
  heads: string[];
  /** heads left as initialised, with why */
  skipped: string[];
}

const fmt = (s: number[]) => `[${s.join(', ')}]`;

/**
 * Load a torchvision-layout name -> tensor map into `enc`. Everything is checked before anything is
 * assigned: a missing or mismatched backbone tensor, or a backbone tensor the arch does not have
 * (e.g. ResNet-34 weights for a ResNet-18), throws naming the tensor and both shapes, and `enc` is untouched.
 * The classifier / projection head are taken when the file has them with the same shapes (heads: 'auto'),
 * never ('none'), or must be there ('all').
 */
export function loadTorchvisionWeights(
  enc: Encoder,
  tensorsIn: Map<string, NamedArray>,
  opts: { file?: string; heads?: 'auto' | 'none' | 'all' } = {},
): LoadReport {
  const where = opts.file ? `${opts.file}: ` : '';
  const heads = opts.heads ?? 'auto';
  const tensors = canonicalTorchNames(tensorsIn);
  const map = nameMap(enc);
  const byTorch = new Map(map.map((e) => [e.torch, e] as const));
  const plan: { e: NameMapEntry; t: NamedArray }[] = [];
  const headOk = { cls: true, proj: true },
    headWhy: Record<string, string> = {};
  for (const e of map) {
    const v = (e.buffer ? enc.buffers : enc.params).get(e.engine)!;
    const want = torchShape(e.kind, v.shape);
    const t = tensors.get(e.torch);
    if (e.head) {
      if (heads === 'none') {
        headOk[e.head] = false;
        headWhy[e.head] = 'not requested';
        continue;
      }
      const bad = !t
        ? `"${e.torch}" not in the file`
        : t.shape.join('x') !== want.join('x')
          ? `"${e.torch}" is ${fmt(t.shape)} in the file, ${fmt(want)} here`
          : null;
      if (bad) {
        if (heads === 'all') throw new Error(`${where}${bad} (${enc.arch} with ${enc.numClasses} classes)`);
        headOk[e.head] = false;
        headWhy[e.head] ??= bad;
        continue;
      }
      plan.push({ e, t: t! });
      continue;
    }
    if (!t)
      throw new Error(
        `${where}not ${enc.arch} weights in torchvision layout: tensor "${e.torch}" (${fmt(want)}) is missing from the file`,
      );
    if (t.shape.join('x') !== want.join('x')) {
      throw new Error(
        `${where}not ${enc.arch} weights: tensor "${e.torch}" is ${fmt(t.shape)} in the file, ${enc.arch} needs ${fmt(want)}` +
          (e.torch.endsWith('conv1.weight') && e.engine === 'stem/w' && t.shape[1] !== want[1]
            ? ` (${t.shape[1]} vs ${want[1]} input channels)`
            : ''),
      );
    }
    plan.push({ e, t });
  }
  for (const n of tensors.keys()) {
    if (byTorch.has(n) || /num_batches_tracked$/.test(n) || /^(fc|classifier|proj)\./.test(n)) continue;
    throw new Error(
      `${where}not ${enc.arch} weights: tensor "${n}" ${fmt(tensors.get(n)!.shape)} in the file is not part of ${enc.arch} (weights of a larger or different net?)`,
    );
  }
  const final = plan.filter(({ e }) => !e.head || headOk[e.head]);
  tf.tidy(() => {
    for (const { e, t } of final) {
      const v = (e.buffer ? enc.buffers : enc.params).get(e.engine)!;
      const data =
        e.kind === 'conv'
          ? oihwToHwio(t.data, t.shape)
          : e.kind === 'linear'
            ? transpose2d(t.data, t.shape[0], t.shape[1])
            : t.data;
      v.assign(tf.tensor(data, v.shape, 'float32'));
    }
  });
  return {
    backbone: final.filter(({ e }) => !e.head).length,
    heads: [
      headOk.cls && heads !== 'none' ? 'classifier' : '',
      headOk.proj && heads !== 'none' ? 'projection' : '',
    ].filter(Boolean),
    skipped: Object.entries(headWhy).map(([h, why]) => `${h === 'cls' ? 'classifier' : 'projection'}: ${why}`),
  };
}

/**
 * The encoder as a torchvision state dict (+ MoPro's projection head as proj.0 / proj.2): F32 tensors and
 * an I64 num_batches_tracked per BN layer (torchvision's load_state_dict expects one; its value only
 * matters for BN with momentum=None, so 0 is written).
 */
export function exportTorchvisionWeights(enc: Encoder): Map<string, WriteTensor> {
  const out = new Map<string, WriteTensor>();
  const entries = nameMap(enc);
  // state_dict order: per module weight, bias, running_mean, running_var, num_batches_tracked; follow the
  // engine's creation order (torchvision's module order) for the modules
  const modules = new Map<string, NameMapEntry[]>();
  const sorted = [...entries].sort((a, b) => (a.buffer === b.buffer ? 0 : a.buffer ? 1 : -1));
  for (const e of sorted) {
    const mod = e.torch.slice(0, e.torch.lastIndexOf('.'));
    if (!modules.has(mod)) modules.set(mod, []);
    modules.get(mod)!.push(e);
  }
  for (const [mod, list] of modules) {
    for (const e of list) {
      const v = (e.buffer ? enc.buffers : enc.params).get(e.engine)!;
      const d = v.dataSync() as Float32Array;
      const data =
        e.kind === 'conv'
          ? hwioToOihw(d, v.shape)
          : e.kind === 'linear'
            ? transpose2d(d, v.shape[0]!, v.shape[1]!)
            : Float32Array.from(d);
      out.set(e.torch, { shape: torchShape(e.kind, v.shape), data });
    }
    if (list.some((e) => e.torch.endsWith('.running_var')))
      out.set(`${mod}.num_batches_tracked`, { shape: [], data: new BigInt64Array([0n]), dtype: 'I64' });
  }
  return out;
}
