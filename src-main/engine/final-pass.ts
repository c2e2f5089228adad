// Final pass (design.md §3): trained query encoder in eval mode, no augmentation; per sample the soft
// label q, status by the rule of mopro.md §2, confidence q[final label], ood_score; then writes
// samples.csv, arrays/q.f32, arrays/embeddings.f32 and arrays/prototypes.f32.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { ARRAYS_DIR, EMBEDDINGS_F32, PROTOTYPES_F32, Q_F32, SAMPLES_CSV, SAMPLES_HEADER } from '../run-format';
import { toCsv } from '../util/csv';
import { writeAtomicSync } from '../util/atomic';
import { EMBED_DIM, featureDim, forward, type Encoder } from './model';
import { cleanRule, softmaxRows, type Status } from './noise-cleaning';
import { oodScores, type OodBank } from './ood-score';
import { classMeanPrototypes } from './prototypes';

export interface InferOut { logits: Float32Array; emb: Float32Array; /** pooled backbone features, with opts.feat */ feat?: Float32Array }

/** Eval-mode forward over rows [0, n) produced by `batchOf`, in chunks (features only on request: 2048-d at 100k is 800 MB). */
export function inferAll(enc: Encoder, n: number, batchOf: (idx: Int32Array) => tf.Tensor4D, chunk = 256, onProgress?: (done: number) => void,
  opts: { feat?: boolean } = {}): InferOut {
  const K = enc.numClasses, d = EMBED_DIM, F = featureDim(enc.arch);
  const logits = new Float32Array(n * K), emb = new Float32Array(n * d), feat = opts.feat ? new Float32Array(n * F) : undefined;
  for (let s = 0; s < n; s += chunk) {
    const idx = Int32Array.from({ length: Math.min(chunk, n - s) }, (_, i) => s + i);
    tf.tidy(() => {
      const o = forward(enc, batchOf(idx), false);
      logits.set(o.logits.dataSync(), s * K);
      emb.set(o.emb.dataSync(), s * d);
      feat?.set(o.feat.dataSync(), s * F);
    });
    onProgress?.(Math.min(n, s + chunk));
  }
  return { logits, emb, feat };
}

/** v_i . c_k for every row and prototype (n x K): the logits of the prototype softmax s (mopro.md §2). */
export function protoSimilarities(emb: Float32Array, protos: Float32Array, n: number, K: number, d: number): Float32Array {
  const pl = new Float32Array(n * K);
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += emb[i * d + t] * protos[k * d + t];
    pl[i * K + k] = s;
  }
  return pl;
}

export interface FinalRow { status: Status; label: number; confidence: number; ood: number }

export interface FinalResult {
  rows: FinalRow[];
  q: Float32Array;
  protos: Float32Array;
  counts: { clean: number; relabeled: number; ood: number };
  /** training embeddings + given labels, kept in the model for predict's ood_score */
  bank: OodBank;
}

/**
 * MoPro: q = alpha p + (1-alpha) s with the trained prototypes. CE: there are no prototypes, so q = p (alpha 1)
 * and prototypes for the arrays are the class means of the embeddings.
 * decoded[i] false or excluded[i] true -> status 'ood' (not judged by the model).
 */
export function judge(out: InferOut, given: Int32Array, K: number, opts: { method: 'mopro' | 'ce'; protos: Float32Array; tau: number; alpha: number; threshold: number; oodScore: string },
  fixed: Uint8Array, excluded: Uint8Array): FinalResult {
  const n = given.length, d = EMBED_DIM;
  const p = softmaxRows(out.logits, n, K);
  let protos = opts.protos, alpha = opts.alpha;
  if (opts.method === 'ce') {
    protos = classMeanPrototypes(new Float32Array(K * d), K, d, out.emb, given, Array.from(excluded, (e) => !e));
    alpha = 1;
  }
  const s = softmaxRows(protoSimilarities(out.emb, protos, n, K, d), n, K, opts.tau);
  const r = cleanRule(p, s, given, K, alpha, opts.threshold, Array.from(fixed, (f) => f === 1));
  // the bank for the neighbour-label score: every usable training sample with its given label
  const use = Int32Array.from([...Array(n).keys()].filter((i) => !excluded[i]));
  const bankEmb = new Float32Array(use.length * d);
  use.forEach((i, j) => bankEmb.set(out.emb.subarray(i * d, (i + 1) * d), j * d));
  const bank = { emb: bankEmb, labels: Int32Array.from(use, (i) => given[i]), n: use.length };
  // knn() skips self by index: score the bank rows in bank order, then scatter back
  const oodBank = oodScores(opts.oodScore, bankEmb, protos, Float32Array.from(Array.from(use).flatMap((i) => Array.from(r.q.subarray(i * K, (i + 1) * K)))), use.length, K, d, bank, 0);
  const ood = new Float32Array(n).fill(1);
  use.forEach((i, j) => { ood[i] = oodBank[j]; });

  const rows: FinalRow[] = [];
  const counts = { clean: 0, relabeled: 0, ood: 0 };
  for (let i = 0; i < n; i++) {
    const st: Status = excluded[i] ? 'ood' : r.status[i];
    const label = r.label[i];
    rows.push({ status: st, label, confidence: st === 'ood' ? 1 - r.q[i * K + given[i]] : r.q[i * K + label], ood: excluded[i] ? 1 : ood[i] });
    counts[st]++;
  }
  return { rows, q: r.q, protos, counts, bank };
}

/** arrays/logits.f32 (N x K classifier logits) is written beside the contract's arrays for analysis tools. */
export const LOGITS_F32 = 'arrays/logits.f32';

/**
 * samples.csv's status as design.md §3 defines it: `relabeled` exactly when the corrected label differs from the
 * folder's. The rule's status compares with the label the model trained on, which for a human-fixed sample is
 * the confirmed label: a confirmed correction is `clean` to the rule but `relabeled` to the file's reader.
 */
export function contractStatus(status: Status, given: string, corrected: string): Status {
  if (status === 'ood') return 'ood';
  return corrected === given ? 'clean' : 'relabeled';
}

/** Writes samples.csv and the arrays; returns the counts of samples.csv's statuses. */
export function writeRunArrays(out: string, samples: { rel: string; label: string }[], classes: string[], res: FinalResult, emb: Float32Array, logits?: Float32Array): FinalResult['counts'] {
  fs.mkdirSync(path.join(out, ARRAYS_DIR), { recursive: true });
  const counts = { clean: 0, relabeled: 0, ood: 0 };
  const csvRows = samples.map((s, i) => {
    const r = res.rows[i];
    const corrected = r.status === 'ood' ? '' : classes[r.label];
    const status = contractStatus(r.status, s.label, corrected);
    counts[status]++;
    return [s.rel, s.label, corrected, status, r.confidence.toFixed(6), r.ood.toFixed(6)];
  });
  writeAtomicSync(path.join(out, SAMPLES_CSV), toCsv(SAMPLES_HEADER, csvRows));
  const f32 = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  writeAtomicSync(path.join(out, Q_F32), f32(res.q));
  writeAtomicSync(path.join(out, EMBEDDINGS_F32), f32(emb));
  writeAtomicSync(path.join(out, PROTOTYPES_F32), f32(res.protos));
  if (logits) writeAtomicSync(path.join(out, LOGITS_F32), f32(logits));
  return counts;
}
