// --init <run>: start a new run from an earlier run's encoder. Weights are matched by name and shape, so a
// run with other classes still reuses the backbone, BN statistics and projection head; the classifier is
// copied only when the class list is the same (otherwise its shape or meaning differs).
import * as tf from '@tensorflow/tfjs';
import type { Encoder } from './model';

export interface CopyReport {
  copied: number;
  skipped: string[];
}

export function copyEncoderWeights(from: Encoder, to: Encoder, opts: { head: boolean }): CopyReport {
  const skipped: string[] = [];
  let copied = 0;
  tf.tidy(() => {
    for (const kind of ['params', 'buffers'] as const) {
      for (const [name, dst] of to[kind]) {
        const src = from[kind].get(name);
        if (!opts.head && name.startsWith('cls/')) {
          skipped.push(`${name} (classes differ)`);
          continue;
        }
        if (!src) {
          skipped.push(`${name} (not in the source)`);
          continue;
        }
        if (src.shape.join('x') !== dst.shape.join('x')) {
          skipped.push(`${name} (shape ${src.shape.join('x')} vs ${dst.shape.join('x')})`);
          continue;
        }
        dst.assign(src);
        copied++;
      }
    }
  });
  return { copied, skipped };
}
