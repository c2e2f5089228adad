// A run folder whose model came from another engine (the PyTorch DDP job of `mopro job`): the weights as
// model/weights.safetensors in torchvision layout, a JSON sidecar model/weights.json (classes, image size,
// channels, normalisation, cleaning constants) and model/extras.safetensors (prototypes + the embedding bank of
// predict's ood_score). Loaded into the engine's encoder so predict runs on it in TF.js like on a native run.
import type { TrainMethod } from '../../../src-shared/contract';
import fs from 'node:fs';
import path from 'node:path';
import { MODEL_DIR } from '../../../src-shared/run-format';
import { ARCHS, createEncoder, disposeEncoder, EMBED_DIM, type Encoder } from './model';
import type { ModelMeta } from './model-io';
import type { OodBank } from '../eval/ood-score';
import { readSafetensors } from './safetensors';
import { loadTorchvisionWeights } from './torchvision-weights';

export const WEIGHTS_FILE = 'weights.safetensors';
export const WEIGHTS_SIDECAR = 'weights.json';
export const EXTRAS_FILE = 'extras.safetensors';
export const WEIGHTS_FORMAT = 'mopro-studio-weights/1';

/** The sidecar as the DDP trainer writes it (scale-out/mopro_ddp/train.py): export-weights' sidecar (format, arch,
 *  torchvision, classes, imageSize, channels, mean, std, input, heads, method) plus the run's cleaning constants.
 *  Those are optional, so an export-weights pair dropped into model/ also loads (engine defaults then). */
export interface RunWeightsSidecar {
  format: typeof WEIGHTS_FORMAT;
  arch: string;
  method: TrainMethod;
  classes: string[];
  imageSize: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  /** true when the arch pads like torchvision (export-weights' field) */
  torchvision?: boolean;
  tau?: number;
  alpha?: number;
  threshold?: number;
  oodScore?: string;
  /** 'torch' or 'tf-same': the padding the weights were trained with */
  padding?: 'torch' | 'tf-same';
  archSpec?: { stem: unknown; stages: unknown; block?: string };
}

/** True when the run's model is a safetensors file + sidecar and there is no TF.js model/model.json. */
export function isSafetensorsRun(runDir: string): boolean {
  const m = path.join(runDir, MODEL_DIR);
  return (
    !fs.existsSync(path.join(m, 'model.json')) &&
    fs.existsSync(path.join(m, WEIGHTS_FILE)) &&
    fs.existsSync(path.join(m, WEIGHTS_SIDECAR))
  );
}

export function readSidecar(runDir: string): RunWeightsSidecar {
  const f = path.join(runDir, MODEL_DIR, WEIGHTS_SIDECAR);
  let j: RunWeightsSidecar;
  try {
    j = JSON.parse(fs.readFileSync(f, 'utf8')) as RunWeightsSidecar;
  } catch (e) {
    throw new Error(`${f}: cannot read the weights sidecar (${(e as Error).message})`);
  }
  if (j.format !== WEIGHTS_FORMAT)
    throw new Error(
      `${f}: format ${JSON.stringify(j.format)} is not ${WEIGHTS_FORMAT}; write the run with this version's job trainer`,
    );
  if (!ARCHS[j.arch])
    throw new Error(`${f}: arch "${j.arch}" is not one the engine builds (${Object.keys(ARCHS).join(', ')})`);
  const spec = ARCHS[j.arch];
  if (
    j.archSpec &&
    (JSON.stringify(j.archSpec.stages) !== JSON.stringify(spec.stages) ||
      JSON.stringify(j.archSpec.stem) !== JSON.stringify(spec.stem))
  ) {
    throw new Error(
      `${f}: the weights were trained for a different "${j.arch}" than this engine builds (stem/stages differ); use the app version that wrote the job`,
    );
  }
  const want = spec.torchPad ? 'torch' : 'tf-same';
  const padding = j.padding ?? (j.torchvision === undefined ? want : j.torchvision ? 'torch' : 'tf-same');
  if (padding !== want)
    throw new Error(
      `${f}: trained with ${padding} padding but the engine's ${j.arch} uses ${want}; predictions would shift by a pixel: write the job again with this version`,
    );
  if (!Array.isArray(j.classes) || j.classes.length < 2) throw new Error(`${f}: no class list`);
  return j;
}

/** The sidecar as the model meta of a native run. */
export function sidecarMeta(sc: RunWeightsSidecar): ModelMeta {
  // absent constants: the engine's (mopro.md tau 0.1, alpha 0.5; final-pass T 0.6; knn-label ood_score)
  return {
    format: 'mopro-studio-model/1',
    arch: sc.arch,
    method: sc.method === 'ce' ? 'ce' : 'mopro',
    classes: sc.classes,
    imageSize: sc.imageSize,
    channels: sc.channels,
    mean: sc.mean,
    std: sc.std,
    tau: sc.tau ?? 0.1,
    alpha: sc.alpha ?? (sc.method === 'ce' ? 1 : 0.5),
    threshold: sc.threshold ?? 0.6,
    oodScore: sc.oodScore ?? 'knn-label',
  };
}

/** Everything predict, cRT, probe and --init need, as loadModel() returns it for a native run. */
export function loadSafetensorsRun(runDir: string): {
  meta: ModelMeta;
  enc: Encoder;
  protos: Float32Array;
  bank?: OodBank;
} {
  const sc = readSidecar(runDir);
  const mdir = path.join(runDir, MODEL_DIR);
  const wf = path.join(mdir, WEIGHTS_FILE);
  const weights = readSafetensors(new Uint8Array(fs.readFileSync(wf)), wf);
  const enc = createEncoder(sc.arch, sc.channels, sc.classes.length, 0, false);
  try {
    // both heads must be there: predict needs the classifier and the embedding
    loadTorchvisionWeights(enc, weights.tensors, { file: wf, heads: 'all' });
  } catch (e) {
    disposeEncoder(enc);
    throw e;
  }
  const K = sc.classes.length;
  let protos: Float32Array | null = null;
  let bank: OodBank | undefined;
  const xf = path.join(mdir, EXTRAS_FILE);
  if (fs.existsSync(xf)) {
    const x = readSafetensors(new Uint8Array(fs.readFileSync(xf)), xf).tensors;
    protos = x.get('prototypes')?.data ?? null;
    const be = x.get('bank/embeddings'),
      bl = x.get('bank/labels');
    if (be && bl) bank = { emb: be.data, labels: Int32Array.from(bl.data), n: bl.data.length };
  }
  if (!protos) {
    // older or hand-made runs: the contract's arrays/prototypes.f32
    const pf = path.join(runDir, 'arrays', 'prototypes.f32');
    if (fs.existsSync(pf)) {
      const b = fs.readFileSync(pf);
      protos = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    }
  }
  if (!protos || protos.length !== K * EMBED_DIM) {
    disposeEncoder(enc);
    throw new Error(
      `${xf}: no K x ${EMBED_DIM} prototypes for the ${K} classes (and no arrays/prototypes.f32): the run folder is incomplete`,
    );
  }
  return { meta: sidecarMeta(sc), enc, protos, bank };
}
