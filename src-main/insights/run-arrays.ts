// Reads a run's float32 arrays (run-format.ts): embeddings N x D and prototypes K x D.
import fs from 'node:fs';
import path from 'node:path';
import { EMBEDDINGS_F32, PROTOTYPES_F32 } from '../../src-shared/run-format';

export interface RunArrays {
  n: number;
  d: number;
  emb: Float32Array;
  k: number;
  protos: Float32Array;
  mtimeMs: number;
}

function readF32(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  if (buf.byteLength % 4)
    throw new Error(
      `${file}: ${buf.byteLength} bytes is not a whole number of float32 values; the run folder is damaged, retrain`,
    );
  // Copy into an aligned buffer: a Buffer from the pool may start at an odd offset.
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** `rows` = rows of samples.csv; the embedding width follows from the file size. */
export function readRunArrays(dir: string, rows: number): RunArrays {
  const ef = path.join(dir, EMBEDDINGS_F32);
  if (!fs.existsSync(ef))
    throw Object.assign(
      new Error(`${ef}: missing; this run has no embeddings (train it again with this version to see the map)`),
      { code: 'ENOENT' },
    );
  const emb = readF32(ef);
  if (rows <= 0 || emb.length % rows)
    throw new Error(`${ef}: ${emb.length} values do not split into ${rows} rows (one per samples.csv row); retrain`);
  const d = emb.length / rows;
  let protos: Float32Array = new Float32Array(0);
  const pf = path.join(dir, PROTOTYPES_F32);
  if (fs.existsSync(pf)) {
    protos = readF32(pf);
    // Prototypes of another width cannot share the map: drop them rather than draw nonsense.
    if (protos.length % d) protos = new Float32Array(0);
  }
  return { n: rows, d, emb, k: protos.length / d, protos, mtimeMs: fs.statSync(ef).mtimeMs };
}
