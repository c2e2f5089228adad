// `mopro export-weights <run> --out model.safetensors`: the run's trained encoder (backbone, BN statistics,
// classifier, projection head) in torchvision layout, plus a JSON sidecar with what a PyTorch user needs to
// feed it (classes, per-channel mean/std on the 0..1 scale, image size, channels, arch).
import fs from 'node:fs';
import path from 'node:path';
import { writeAtomicSync } from '../../util/atomic';
import { ARCHS, disposeEncoder } from './model';
import { loadModel } from './model-io';
import { writeSafetensors } from './safetensors';
import { exportTorchvisionWeights } from './torchvision-weights';

export interface WeightsSidecar {
  format: 'mopro-studio-weights/1';
  arch: string;
  /** true for the archs whose layout and padding are torchvision's (torchvision.models.<arch>(num_classes=K) loads them) */
  torchvision: boolean;
  classes: string[];
  imageSize: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  /** how to turn a 0..255 image into the model input */
  input: string;
  heads: { classifier: string; projection: string };
  method: string;
}

/** The sidecar path for a weights file: model.safetensors -> model.json */
export function sidecarPath(file: string): string {
  return file.replace(/\.safetensors$/i, '') + '.json';
}

export function exportRunWeights(
  run: string,
  outFile: string,
): { file: string; sidecar: string; tensors: number; meta: WeightsSidecar } {
  const runDir = path.resolve(run),
    file = path.resolve(outFile);
  if (!/\.safetensors$/i.test(file)) throw new Error(`--out ${outFile}: give a file name ending in .safetensors`);
  if (!fs.existsSync(path.dirname(file)))
    throw new Error(`--out ${outFile}: folder ${path.dirname(file)} does not exist`);
  const { meta, enc } = loadModel(runDir);
  try {
    const tensors = exportTorchvisionWeights(enc);
    const tv = !!ARCHS[meta.arch]?.torchPad;
    const side: WeightsSidecar = {
      format: 'mopro-studio-weights/1',
      arch: meta.arch,
      torchvision: tv,
      classes: meta.classes,
      imageSize: meta.imageSize,
      channels: meta.channels,
      mean: meta.mean,
      std: meta.std,
      input:
        `NCHW float32: pixels / 255, resized to ${meta.imageSize}x${meta.imageSize}, ${meta.channels === 1 ? '1 channel (greyscale)' : 'RGB'}, (x - mean[c]) / std[c]` +
        (tv
          ? ''
          : `; ${meta.arch} is an engine-only arch: its stride-2 convs pad like TF 'same' (one pixel less on the top/left than PyTorch)`),
      heads: {
        classifier: `${ARCHS[meta.arch]?.dense ? 'classifier' : 'fc'}.* : logits over classes`,
        projection:
          "proj.0 (Linear) -> ReLU -> proj.2 (Linear) -> L2-normalise: the 128-d MoPro embedding (not part of torchvision's model: load with strict=False or drop proj.*)",
      },
      method: meta.method,
    };
    writeAtomicSync(
      file,
      Buffer.from(writeSafetensors(tensors, { format: 'pt', arch: meta.arch, source: 'mopro-studio' })),
    );
    writeAtomicSync(sidecarPath(file), JSON.stringify(side, null, 2));
    return { file, sidecar: sidecarPath(file), tensors: tensors.size, meta: side };
  } finally {
    disposeEncoder(enc);
  }
}
