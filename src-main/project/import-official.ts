// `mopro import-official`: the official MoPro code's offline noise-cleaning output (noise_cleaning.py writes
// JSON {"images": [path, ...], "labels": [class index, ...]} of the samples it KEEPS, each with its corrected
// label; out-of-distribution samples are left out; mopro.md §5) as a run folder of the app's contract, so the
// official result can be reviewed, corrected and exported like one of ours.
// Paths are matched onto the local dataset by their longest trailing part that names exactly one local file
// (the whole relative path, then without its leading folders, down to the file name). Label indices are read
// through --classes (JSON array or one name per line), by default the dataset's sorted class folders (the
// order of `mopro job`'s classes.json).
import fs from 'node:fs';
import path from 'node:path';
import { scanDataset } from '../dataset/scan';
import { isInside } from '../dataset/walk';
import { RUN_JSON, SAMPLES_CSV, SAMPLES_HEADER } from '../../src-shared/run-format';
import { RUN_JSON_VERSION, type RunJsonInput } from '../../src-shared/run-json';
import { toCsv } from '../util/csv';
import { writeAtomicSync } from '../util/atomic';

export const UNMATCHED_TXT = 'import-unmatched.txt';
const EXPECTED =
  'expected the JSON that the official noise_cleaning.py writes: {"images": ["<path>", ...], "labels": [<class index>, ...]} (same length)';

export interface ImportOfficialOptions {
  cleaned: string;
  dataset: string;
  out: string;
  classes?: string;
}
export interface ImportOfficialResult {
  out: string;
  counts: { clean: number; relabeled: number; ood: number };
  /** entries of the JSON */
  entries: number;
  matched: number;
  /** official paths with no local file (also written to import-unmatched.txt) */
  unmatched: string[];
  /** official paths whose trailing parts fit several local files equally well */
  ambiguous: string[];
  /** official entries that mapped to a local file already matched by an earlier entry */
  duplicates: number;
  classes: string[];
}

export function readCleanedJson(file: string): { images: string[]; labels: number[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message.split('\n')[0]}; ${EXPECTED}`);
  }
  const j = raw as { images?: unknown; labels?: unknown };
  if (!j || typeof j !== 'object' || !Array.isArray(j.images) || !Array.isArray(j.labels))
    throw new Error(`${file}: no "images" and "labels" arrays; ${EXPECTED}`);
  if (j.images.length !== j.labels.length)
    throw new Error(`${file}: ${j.images.length} images but ${j.labels.length} labels; ${EXPECTED}`);
  j.images.forEach((p, i) => {
    if (typeof p !== 'string' || !p) throw new Error(`${file}: images[${i}] is not a path; ${EXPECTED}`);
  });
  j.labels.forEach((l, i) => {
    if (!Number.isInteger(l) || (l as number) < 0)
      throw new Error(`${file}: labels[${i}] = ${JSON.stringify(l)} is not a class index; ${EXPECTED}`);
  });
  return { images: j.images as string[], labels: j.labels as number[] };
}

/** --classes: a JSON array of names, or a text file with one name per line (index = line number). */
export function readClassList(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  if (/^\s*\[/.test(text)) {
    const a = JSON.parse(text) as unknown;
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'string'))
      throw new Error(`${file}: expected a JSON array of class names`);
    return a as string[];
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

const parts = (p: string) =>
  p
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s && s !== '.');

/** Index of every trailing part of every local path ("a/b/c.png", "b/c.png", "c.png") -> local rows. */
export function suffixIndex(rels: readonly string[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  rels.forEach((rel, i) => {
    const ps = parts(rel);
    for (let s = 0; s < ps.length; s++) {
      const key = ps.slice(s).join('/');
      const l = m.get(key);
      if (l) l.push(i);
      else m.set(key, [i]);
    }
  });
  return m;
}

/** The local row of an official path: its longest trailing part that is a trailing part of local paths; null when
 *  none, 'ambiguous' when that longest part fits several local files. */
export function matchPath(official: string, index: Map<string, number[]>): number | null | 'ambiguous' {
  const ps = parts(official);
  for (let s = 0; s < ps.length; s++) {
    const hit = index.get(ps.slice(s).join('/'));
    if (!hit) continue;
    return hit.length === 1 ? hit[0] : 'ambiguous';
  }
  return null;
}

export async function importOfficial(o: ImportOfficialOptions): Promise<ImportOfficialResult> {
  const cleanedFile = path.resolve(o.cleaned),
    out = path.resolve(o.out);
  const { images, labels } = readCleanedJson(cleanedFile);
  const scan = await scanDataset(o.dataset);
  if (isInside(scan.root, out))
    throw new Error(
      `${out} is inside the dataset ${scan.root}: write the run folder somewhere else (outputs never land inside the dataset)`,
    );
  try {
    if (fs.readdirSync(out).length)
      throw new Error(`${out} exists and is not empty: give a new folder for the run (nothing is overwritten)`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const classes = o.classes ? readClassList(path.resolve(o.classes)) : scan.classes;
  const maxLabel = labels.reduce((a, b) => Math.max(a, b), -1);
  if (maxLabel >= classes.length) {
    throw new Error(
      `${cleanedFile}: label index ${maxLabel} but ${o.classes ? path.resolve(o.classes) : `the dataset's ${classes.length} class folders`} name only ${classes.length} classes; pass --classes <file> with the class list the official run used (JSON array or one name per line)`,
    );
  }
  const rels = scan.samples.map((s) => s.rel);
  const index = suffixIndex(rels);
  const label = new Int32Array(rels.length).fill(-1);
  const unmatched: string[] = [],
    ambiguous: string[] = [];
  let duplicates = 0,
    matched = 0;
  images.forEach((img, j) => {
    const m = matchPath(img, index);
    if (m === null) {
      unmatched.push(img);
      return;
    }
    if (m === 'ambiguous') {
      ambiguous.push(img);
      return;
    }
    if (label[m] >= 0) {
      duplicates++;
      return;
    }
    label[m] = labels[j];
    matched++;
  });
  if (!matched) {
    throw new Error(
      `${cleanedFile}: none of its ${images.length} paths (e.g. "${images[0] ?? ''}") matches a file under ${scan.root}; paths are matched by their trailing folders and file name: give the dataset folder those images are in`,
    );
  }
  const counts = { clean: 0, relabeled: 0, ood: 0 };
  const rows = scan.samples.map((s, i) => {
    if (label[i] < 0) {
      counts.ood++;
      return [s.rel, s.label, '', 'ood', '1.000000', '1.000000'];
    }
    const corrected = classes[label[i]];
    const status = corrected === s.label ? 'clean' : 'relabeled';
    counts[status]++;
    return [s.rel, s.label, corrected, status, '1.000000', '0.000000'];
  });
  fs.mkdirSync(out, { recursive: true });
  writeAtomicSync(path.join(out, SAMPLES_CSV), toCsv(SAMPLES_HEADER, rows));
  if (unmatched.length || ambiguous.length) {
    writeAtomicSync(
      path.join(out, UNMATCHED_TXT),
      [...unmatched.map((p) => `unmatched\t${p}`), ...ambiguous.map((p) => `ambiguous\t${p}`)].join('\n') + '\n',
    );
  }
  const foreign = [...new Set(labels.map((l) => classes[l]))].filter((c) => !scan.classes.includes(c));
  const runJson: RunJsonInput = {
    version: RUN_JSON_VERSION,
    state: 'done',
    method: 'mopro',
    dataset: scan.root,
    out,
    createdAt: new Date().toISOString(),
    engine: 'official MoPro noise_cleaning.py output (imported)',
    config: { method: 'mopro', epochs: 0 },
    backend: { name: 'imported', reason: `converted from ${cleanedFile}`, skipped: [] },
    import: {
      file: cleanedFile,
      entries: images.length,
      matched,
      unmatched: unmatched.length,
      ambiguous: ambiguous.length,
      duplicates,
      classesFrom: o.classes ? path.resolve(o.classes) : 'dataset class folders, sorted',
      classesNotInDataset: foreign,
      ...(unmatched.length || ambiguous.length ? { list: UNMATCHED_TXT } : {}),
    },
    datasetSummary: {
      classes: scan.classes,
      counts: scan.classes.map((_, k) => scan.samples.filter((s) => s.classIndex === k).length),
      images: scan.samples.length,
      used: scan.samples.length,
      skipped: scan.skipped,
      warnings: scan.warnings,
    },
    counts,
    epochs: [],
    finalPass: {
      statusRule: 'official',
      statusRuleText: 'noise_cleaning.py: kept samples with their corrected labels; files it left out are ood',
      scores: 'none in the official output: confidence is 1 and ood_score is 0 (kept) or 1 (left out)',
    },
  };
  writeAtomicSync(path.join(out, RUN_JSON), JSON.stringify(runJson, null, 2));
  return { out, counts, entries: images.length, matched, unmatched, ambiguous, duplicates, classes };
}
