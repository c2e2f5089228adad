// Reading run folders (design.md §3 "Run folder"): samples.csv into a SampleTable, run.json into a
// RunSummary, and one row of arrays/q.f32 for the detail panel. run.json is read with the shared schema
// (src-shared/run-json.ts, which also migrates the older shapes); samples.csv's header is checked strictly. Run
// folders of other writers read the same way: the PyTorch DDP job (`mopro job`: backend {name: 'pytorch-ddp-…'},
// run.json `distributed`) and `mopro import-official` (no arrays, no model: the grid, class health and export
// work, the map does not).
import fs from 'node:fs';
import path from 'node:path';
import type { EpochStats, RunSuggestions, RunSummary, SampleStatus, TrainMethod } from '../../src-shared/contract';
import { Q_F32, RUN_JSON, SAMPLES_CSV, SAMPLES_HEADER } from '../../src-shared/run-format';
import { parseRunJson, type RunJson } from '../../src-shared/run-json';
import { parseCsv } from '../util/csv';
import type { TableInput } from './table';

/** A run's run.json, or why it cannot be read (null, null: the folder has none). */
function loadRunJson(dir: string): { json: RunJson | null; problem: string | null } {
  const file = path.join(dir, RUN_JSON);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { json: null, problem: null };
  }
  try {
    return { json: parseRunJson(text, file, dir), problem: null };
  } catch (e) {
    return { json: null, problem: (e as Error).message };
  }
}

/** The run's run.json; null when it has none or the file does not fit the schema (runSummary says why). */
export function readRunJson(dir: string): RunJson | null {
  return loadRunJson(dir).json;
}

export function isRunFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, SAMPLES_CSV)) || fs.existsSync(path.join(dir, RUN_JSON));
}

/** The dataset folder a run was trained on, from its run.json. */
export function runDatasetRoot(dir: string): string | null {
  return readRunJson(dir)?.dataset || null;
}

export function runEpochs(j: RunJson | null): EpochStats[] {
  return j?.epochs ?? [];
}

/** The run's classes: from run.json, else from its model's files (a run folder without a readable run.json). */
export function runClasses(dir: string): string[] | null {
  const c = readRunJson(dir)?.datasetSummary.classes;
  if (c?.length) return c;
  for (const f of ['model/model.json', 'model/classes.json']) {
    try {
      const v: unknown = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      const arr = Array.isArray(v) ? v : v && typeof v === 'object' ? (v as { classes?: unknown }).classes : null;
      if (Array.isArray(arr)) return arr.map(String);
    } catch {
      /* try the next one */
    }
  }
  return null;
}

/** The app's own notes beside a run (display name, preset): never read by the engine. */
export const RUN_META_JSON = 'studio.json';
interface RunMeta {
  name?: string;
  preset?: string;
}

export function readRunMeta(dir: string): RunMeta {
  try {
    const v: unknown = JSON.parse(fs.readFileSync(path.join(dir, RUN_META_JSON), 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as RunMeta) : {};
  } catch {
    return {};
  }
}

/** Merges `patch` into the run's studio.json (undefined fields are removed). */
export function writeRunMeta(dir: string, patch: RunMeta): void {
  const next: Record<string, unknown> = { ...readRunMeta(dir), ...patch };
  for (const k of Object.keys(next)) if (next[k] === undefined) delete next[k];
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, RUN_META_JSON), JSON.stringify(next));
}

const pad2 = (n: number): string => String(n).padStart(2, '0');
/** "MoPro · 15 epochs · Balanced · 2026-12-01 15:20" (local time). */
export function generatedRunName(
  method: TrainMethod,
  epochs: number,
  preset: string | undefined,
  createdAt: string,
): string {
  const d = new Date(createdAt);
  const when = Number.isNaN(d.getTime())
    ? ''
    : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  const p = preset && preset !== 'custom' ? preset[0].toUpperCase() + preset.slice(1) : null;
  return [method === 'ce' ? 'Cross-entropy' : 'MoPro', `${epochs} epoch${epochs === 1 ? '' : 's'}`, p, when]
    .filter(Boolean)
    .join(' · ');
}

/** run.json `suggestions` + `statusRule` (written by the final pass) as the API's RunSuggestions; null for older runs. */
export function runSuggestions(j: RunJson | null): RunSuggestions | null {
  const sg = j?.suggestions,
    sr = j?.statusRule;
  if (!sg) return null;
  return {
    statusRule: sr?.name ?? 'best',
    trusted: sg.trusted,
    reason: sg.reason ?? '',
    advice: sg.advice ?? null,
    oodThreshold: sr?.oodThreshold ?? null,
  };
}

export function runSummary(dir: string, id: string, live?: Partial<RunSummary>): RunSummary {
  const { json: j, problem } = loadRunJson(dir);
  const epochs = runEpochs(j);
  const hasSamples = fs.existsSync(path.join(dir, SAMPLES_CSV));
  const state: RunSummary['state'] =
    live?.state ??
    (j
      ? j.state === 'running'
        ? 'stopped' // nobody runs it now: a 'running' left on disk was interrupted
        : j.state
      : hasSamples
        ? 'done'
        : 'stopped');
  let created = j?.createdAt || null;
  if (!created) {
    try {
      created = fs.statSync(dir).birthtime.toISOString();
    } catch {
      created = new Date(0).toISOString();
    }
  }
  const method: TrainMethod = j?.config.method ?? 'mopro';
  const epochsTotal = live?.epochsTotal ?? j?.config.epochs ?? epochs.length;
  const meta = readRunMeta(dir);
  const customName = typeof meta.name === 'string' && meta.name.trim() ? meta.name.trim() : undefined;
  const error = j?.error ?? problem;
  const suggestions = runSuggestions(j);
  return {
    id,
    dir,
    method,
    state,
    createdAt: created,
    name:
      customName ??
      generatedRunName(method, epochsTotal, typeof meta.preset === 'string' ? meta.preset : undefined, created),
    ...(customName ? { customName } : {}),
    epochsDone: epochs.length,
    epochsTotal,
    backend: j?.backend.name || null,
    counts: j?.counts ?? null,
    ...(error ? { error } : {}),
    ...(suggestions ? { suggestions } : {}),
    ...live,
  };
}

const STATUSES = new Set(['clean', 'relabeled', 'ood']);

/**
 * samples.csv without any quote character is split on commas straight into rows (~5x faster than
 * the general RFC 4180 parser at 100k rows); anything quoted goes through csv-parse.
 */
function fastRows(text: string, file: string): Record<string, string>[] | null {
  if (text.includes('"')) return null;
  const lines = text.split('\n');
  const header = lines[0]
    .replace(/^\uFEFF/, '')
    .replace(/\r$/, '')
    .split(',');
  for (const c of SAMPLES_HEADER) if (!header.includes(c)) throw new Error(`${file}: missing column "${c}"`);
  const out: Record<string, string>[] = [];
  for (let i = 1; i < lines.length; i++) {
    let line = lines[i];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (!line) continue;
    const f = line.split(',');
    if (f.length !== header.length)
      throw new Error(`${file}: row ${i + 1} has ${f.length} fields, the header has ${header.length}`);
    const rec: Record<string, string> = {};
    for (let k = 0; k < header.length; k++) rec[header[k]] = f[k];
    out.push(rec);
  }
  return out;
}

/** Parses samples.csv; throws one line naming the file and what is wrong. */
export function readSamples(dir: string): TableInput[] {
  const file = path.join(dir, SAMPLES_CSV);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? e}); is the run finished?`);
  }
  const recs = fastRows(text, file) ?? parseCsv(text, SAMPLES_HEADER, file);
  const rows = new Array<TableInput>(recs.length);
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    if (!STATUSES.has(r.status))
      throw new Error(`${file}: row ${i + 2} has status "${r.status}"; expected clean, relabeled or ood`);
    rows[i] = {
      path: r.path,
      given: r.given_label,
      suggested: r.status === 'ood' ? null : r.corrected_label || r.given_label,
      status: r.status as SampleStatus,
      confidence: Number(r.confidence) || 0,
      oodScore: Number(r.ood_score) || 0,
    };
  }
  return rows;
}

/** Row `i` of arrays/q.f32 (N x K float32 LE), or null when the file is missing or does not fit. */
export function readQRow(dir: string, n: number, i: number): Float32Array | null {
  const file = path.join(dir, Q_F32);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (n <= 0 || size % (n * 4) !== 0) return null;
    const k = size / (n * 4);
    const buf = Buffer.alloc(k * 4);
    fs.readSync(fd, buf, 0, k * 4, i * k * 4);
    return new Float32Array(buf.buffer, buf.byteOffset, k).slice();
  } finally {
    fs.closeSync(fd);
  }
}
