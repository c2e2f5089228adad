// `--pretrained <file.safetensors | imagenet:resnet18 | imagenet:resnet50>`: where the starting weights come
// from. Names are the torchvision ImageNet-1k weights as the timm organisation republishes them on the
// Hugging Face Hub in safetensors form (same tensor names as torchvision), pinned to a revision and a
// sha256; they are downloaded once into the app's cache folder. Without a network the error says where
// to put the file by hand.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ARCHS } from './model';
import { readSafetensors, type SafeFile } from './safetensors';

/** torchvision's ImageNet normalisation (0..1 pixel scale), the statistics these weights were trained with. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface HubWeights {
  arch: string;
  url: string;
  bytes: number;
  sha256: string;
  origin: string;
}

// sha256 and sizes as pinned by several independent public projects for these exact revisions (the Hub's
// LFS pointers); the files are torchvision's IMAGENET1K_V1 weights (BSD-3-Clause).
export const IMAGENET_WEIGHTS: Record<string, HubWeights> = {
  'imagenet:resnet18': {
    arch: 'resnet18',
    bytes: 46_807_446,
    sha256: '694f673df6520a3158624e8a89af086f59923ee4cd7436fe5bc3bc71d295ad81',
    url: 'https://huggingface.co/timm/resnet18.tv_in1k/resolve/bbd144b3e5565108aad885f145491d11bc6ce807/model.safetensors',
    origin: 'torchvision ResNet18_Weights.IMAGENET1K_V1 (timm/resnet18.tv_in1k)',
  },
  'imagenet:resnet50': {
    arch: 'resnet50',
    bytes: 102_469_840,
    sha256: '5d061a3c593d795bfe682d9b152bafbcf550579873492def3515b46db1189888',
    url: 'https://huggingface.co/timm/resnet50.tv_in1k/resolve/78f3ecfdb38e06d9b8397f662e7ab8fee96026fa/model.safetensors',
    origin: 'torchvision ResNet50_Weights.IMAGENET1K_V1 (timm/resnet50.tv_in1k)',
  },
};

/** The subset of fetch() the downloader uses (injectable: tests pass a local fake). */
export type FetchLike = (url: string) => Promise<{
  ok: boolean;
  status: number;
  statusText?: string;
  headers: { get(name: string): string | null };
  body: AsyncIterable<Uint8Array> | null;
}>;

export interface ResolvedWeights {
  /** the absolute path of the safetensors file */
  file: string;
  sha256: string;
  bytes: number;
  /** 'imagenet:resnet18' or the file path as given */
  source: string;
  /** the Hub file a name stands for */
  url?: string;
  origin?: string;
  /** arch fixed by a name (files: from the header metadata or the tensor names, see guessArch) */
  arch?: string;
}

export function pretrainedCacheFile(cacheDir: string, name: string): string {
  const w = IMAGENET_WEIGHTS[name];
  return path.join(cacheDir, 'pretrained', `${name.replace(/[^a-z0-9]+/gi, '-')}-${w.sha256.slice(0, 12)}.safetensors`);
}

function sha256File(file: string): string {
  const h = crypto.createHash('sha256'),
    fd = fs.openSync(file, 'r'),
    buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export interface ResolveOptions {
  cacheDir: string;
  fetch?: FetchLike;
  onProgress?: (done: number, total: number) => void;
}

/** A file path or a known name -> a verified local safetensors file (downloading a name once). */
export async function resolvePretrained(spec: string, o: ResolveOptions): Promise<ResolvedWeights> {
  if (/^[a-z]+:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) {
    const w = IMAGENET_WEIGHTS[spec];
    if (!w)
      throw new Error(
        `--pretrained ${spec}: unknown name; use ${Object.keys(IMAGENET_WEIGHTS).join(' or ')}, or the path of a .safetensors file`,
      );
    const file = pretrainedCacheFile(o.cacheDir, spec);
    const base = { source: spec, url: w.url, origin: w.origin, arch: w.arch, bytes: w.bytes, sha256: w.sha256, file };
    if (fs.existsSync(file)) {
      if (fs.statSync(file).size === w.bytes && sha256File(file) === w.sha256) return base;
      // our own cache entry, damaged or replaced: fetch it again
      fs.rmSync(file, { force: true });
    }
    await download(spec, w, file, o);
    return base;
  }
  const file = path.resolve(spec);
  if (!fs.existsSync(file))
    throw new Error(
      `--pretrained ${spec}: file not found (give a .safetensors file, or ${Object.keys(IMAGENET_WEIGHTS).join(' / ')})`,
    );
  if (!fs.statSync(file).isFile()) throw new Error(`--pretrained ${spec}: not a file`);
  return { source: spec, file, sha256: sha256File(file), bytes: fs.statSync(file).size };
}

async function download(name: string, w: HubWeights, file: string, o: ResolveOptions): Promise<void> {
  const manual =
    `download ${w.url} on a machine with internet access and put it at ${file} ` +
    `(${w.bytes} bytes, sha256 ${w.sha256}), or pass --pretrained <path of a .safetensors file>`;
  const f = o.fetch ?? (globalThis.fetch as unknown as FetchLike | undefined);
  if (!f) throw new Error(`--pretrained ${name}: no fetch() in this runtime; ${manual}`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const part = `${file}.part`;
  try {
    let res;
    try {
      res = await f(w.url);
    } catch (e) {
      // Node's fetch says only "fetch failed"; the reason (DNS, refused, timeout) is its cause
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw new Error(
        `--pretrained ${name}: cannot download the weights (offline? ${(e as Error).message}${cause ? `: ${cause}` : ''}); ${manual}`,
      );
    }
    if (!res.ok || !res.body)
      throw new Error(
        `--pretrained ${name}: download failed (HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}); ${manual}`,
      );
    const total = Number(res.headers.get('content-length')) || w.bytes;
    const h = crypto.createHash('sha256'),
      fd = fs.openSync(part, 'w');
    let done = 0,
      lastReport = 0;
    try {
      for await (const chunk of res.body) {
        h.update(chunk);
        fs.writeSync(fd, chunk);
        done += chunk.length;
        if (done - lastReport >= 1 << 20 || done === total) {
          o.onProgress?.(done, total);
          lastReport = done;
        }
      }
      fs.fsyncSync(fd);
    } catch (e) {
      throw new Error(
        `--pretrained ${name}: the download broke off after ${done} of ${total} bytes (${(e as Error).message}); run again, or ${manual}`,
      );
    } finally {
      fs.closeSync(fd);
    }
    o.onProgress?.(done, total);
    const got = h.digest('hex');
    if (done !== w.bytes || got !== w.sha256) {
      throw new Error(
        `--pretrained ${name}: the downloaded file does not match the pinned weights (${done} bytes, sha256 ${got}; expected ${w.bytes} bytes, sha256 ${w.sha256}); it was not kept. Run again, or ${manual}`,
      );
    }
    fs.renameSync(part, file);
  } finally {
    fs.rmSync(part, { force: true });
  }
}

/** The arch a torchvision state dict belongs to, from the tensors only it has (null: not recognised). */
export function guessArch(names: Iterable<string>): string | null {
  const s = new Set([...names].map((n) => n.replace(/^module\./, '')));
  if (s.has('features.denseblock1.denselayer1.conv1.weight') || s.has('features.denseblock1.denselayer1.conv.1.weight'))
    return 'densenet121';
  if (s.has('layer3.22.conv1.weight')) return 'resnet101';
  if (s.has('layer1.0.conv3.weight')) return 'resnet50';
  if (s.has('layer3.5.conv1.weight')) return 'resnet34';
  if (s.has('layer1.0.conv1.weight')) return 'resnet18';
  return null;
}

/** Reads and format-checks the file; the arch from the name, the header's metadata, or the tensor names. */
export function readPretrained(w: ResolvedWeights): { file: SafeFile; arch: string } {
  const bytes = fs.readFileSync(w.file);
  const file = readSafetensors(bytes, w.file);
  const meta = file.metadata.arch && ARCHS[file.metadata.arch] ? file.metadata.arch : null;
  const arch = w.arch ?? meta ?? guessArch(file.tensors.keys());
  if (!arch) {
    const first = [...file.tensors.keys()].slice(0, 3).join(', ');
    throw new Error(
      `${w.file}: not torchvision ResNet / DenseNet weights (no conv1 / layer1 / features.denseblock1 tensors; the file starts with ${first || 'no tensors'}); pass --arch if it is one`,
    );
  }
  return { file, arch };
}
