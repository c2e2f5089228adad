// Which dataset a run was trained on, so that --resume refuses another one (the checkpoint's sample and
// class indices only mean something for the files it was trained on). No tensors here: the CLI checks a
// resume with it before it starts the engine.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CHECKPOINT_DIR, RUN_JSON } from '../../../src-shared/run-format';

/** What a resume must find again: the checkpoint's sample indices and class indices only mean something for it. */
export interface DatasetIdentity {
  root: string;
  classes: string[];
  images: number;
  fingerprint: string;
}

/** Hash of every sample's path, class and size, in scan order (sorted): changes when any file is added, removed, moved or resized. */
export function datasetIdentity(
  root: string,
  classes: readonly string[],
  samples: readonly { rel: string; classIndex: number; bytes: number }[],
): DatasetIdentity {
  const h = crypto.createHash('sha256');
  for (const s of samples) h.update(`${s.rel}\u0000${s.classIndex}\u0000${s.bytes}\n`);
  return { root, classes: [...classes], images: samples.length, fingerprint: h.digest('hex').slice(0, 16) };
}

const classList = (c: readonly string[]): string =>
  c.length > 6 ? `${c.slice(0, 6).join(', ')}, ... (${c.length})` : c.join(', ');

/**
 * One-line reason why `now` is not the dataset the checkpoint was trained on, or null when it is.
 * `was` may lack a fingerprint (older checkpoints: only the class list is known).
 */
export function datasetMismatch(
  out: string,
  was: Partial<DatasetIdentity> & { classes: string[] },
  now: DatasetIdentity,
): string | null {
  const fix = 'resume with the dataset it was trained on, or start a new run (--force keeps the old one beside it)';
  if (was.classes.join('\u0000') !== now.classes.join('\u0000')) {
    return `--resume: the run in ${out} was trained on ${was.root ?? 'another dataset'} with classes [${classList(was.classes)}]; ${now.root} has classes [${classList(now.classes)}]: ${fix}`;
  }
  if (was.fingerprint && was.fingerprint !== now.fingerprint) {
    return `--resume: the run in ${out} was trained on ${was.root} (${was.images} images, fingerprint ${was.fingerprint}); ${now.root} has ${now.images} images (fingerprint ${now.fingerprint}), so files were added, removed or changed: ${fix}`;
  }
  return null;
}

/**
 * The dataset a run folder's checkpoint was trained on: the checkpoint's record, else (older checkpoints)
 * the class list in run.json; null when there is no checkpoint or neither says.
 */
export function recordedIdentity(out: string): (Partial<DatasetIdentity> & { classes: string[] }) | null {
  try {
    const d = (
      JSON.parse(fs.readFileSync(path.join(out, CHECKPOINT_DIR, 'checkpoint.json'), 'utf8')) as {
        dataset?: DatasetIdentity;
      }
    ).dataset;
    if (d && Array.isArray(d.classes)) return d;
  } catch {
    return null;
  } // no checkpoint: nothing is resumed
  try {
    const j = JSON.parse(fs.readFileSync(path.join(out, RUN_JSON), 'utf8')) as {
      dataset?: string;
      datasetSummary?: { classes?: unknown };
    };
    if (Array.isArray(j.datasetSummary?.classes))
      return { root: j.dataset, classes: j.datasetSummary.classes as string[] };
  } catch {
    /* no run.json */
  }
  return null;
}
