// Named float32 arrays <-> one JSON manifest + one binary file, written atomically. Used by the model
// folder (weights in TF.js weightsManifest layout) and by checkpoints.
import fs from 'node:fs';
import path from 'node:path';
import { writeAtomicSync } from '../../util/atomic';

export interface StoredArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export function encodeArrays(arrays: StoredArray[]): {
  specs: { name: string; shape: number[]; dtype: 'float32' }[];
  bin: Uint8Array;
} {
  const total = arrays.reduce((s, a) => s + a.data.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const a of arrays) {
    all.set(a.data, o);
    o += a.data.length;
  }
  return {
    specs: arrays.map((a) => ({ name: a.name, shape: a.shape, dtype: 'float32' as const })),
    bin: new Uint8Array(all.buffer),
  };
}

export function decodeArrays(
  specs: { name: string; shape: number[] }[],
  bin: Buffer,
  file: string,
): Map<string, StoredArray> {
  const out = new Map<string, StoredArray>();
  let o = 0;
  const f = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (o + n > f.length)
      throw new Error(`${file}: truncated (expected more data for ${s.name}); delete it and train again`);
    out.set(s.name, { name: s.name, shape: s.shape, data: f.slice(o, o + n) });
    o += n;
  }
  return out;
}

/** Writes `<dir>/<base>.json` (meta + TF.js-style weightsManifest) and `<dir>/<base>.bin`, bin first. */
export function writeStore(dir: string, base: string, meta: Record<string, unknown>, arrays: StoredArray[]): void {
  fs.mkdirSync(dir, { recursive: true });
  const { specs, bin } = encodeArrays(arrays);
  writeAtomicSync(path.join(dir, `${base}.bin`), bin);
  writeAtomicSync(
    path.join(dir, `${base}.json`),
    JSON.stringify({ ...meta, weightsManifest: [{ paths: [`${base}.bin`], weights: specs }] }),
  );
}

export function readStore(
  dir: string,
  base: string,
): { meta: Record<string, unknown>; arrays: Map<string, StoredArray> } {
  const jf = path.join(dir, `${base}.json`);
  if (!fs.existsSync(jf)) throw new Error(`${jf} not found: not a finished run folder (train first)`);
  const meta = JSON.parse(fs.readFileSync(jf, 'utf8')) as Record<string, unknown> & {
    weightsManifest: { weights: { name: string; shape: number[] }[] }[];
  };
  const bin = fs.readFileSync(path.join(dir, `${base}.bin`));
  return { meta, arrays: decodeArrays(meta.weightsManifest[0].weights, bin, path.join(dir, `${base}.bin`)) };
}
