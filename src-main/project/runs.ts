// Reading run folders (design.md §3 "Run folder"): samples.csv into a SampleTable, run.json into a
// RunSummary, and one row of arrays/q.f32 for the detail panel. Lenient about run.json fields the
// engine may or may not write; strict about samples.csv's header. Run folders of other writers read the same
// way: the PyTorch DDP job (`mopro job`: backend {name: 'pytorch-ddp-…'}, run.json `distributed`) and
// `mopro import-official` (no arrays, no model: the grid, class health and export work, the map does not).
import fs from 'node:fs';
import path from 'node:path';
import type { EpochStats, RunSuggestions, RunSummary, SampleStatus, TrainMethod } from '../../src-shared/contract';
import { Q_F32, RUN_JSON, SAMPLES_CSV, SAMPLES_HEADER } from '../../src-shared/run-format';
import { parseCsv } from '../util/csv';
import type { TableInput } from './table';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function readRunJson(dir: string): Json | null {
  try {
    return obj(JSON.parse(fs.readFileSync(path.join(dir, RUN_JSON), 'utf8')));
  } catch {
    return null;
  }
}

export function isRunFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, SAMPLES_CSV)) || fs.existsSync(path.join(dir, RUN_JSON));
}

/** The dataset folder a run was trained on, from its run.json. */
export function runDatasetRoot(dir: string): string | null {
  const j = readRunJson(dir);
  if (!j) return null;
  const ds = j.dataset;
  return str(ds) ?? str(obj(ds).root) ?? str(obj(j.config).dataset) ?? str(j.datasetRoot);
}

export function runEpochs(j: Json | null): EpochStats[] {
  const e = j ? (j.epochs ?? obj(j.training).epochs) : null;
  return Array.isArray(e) ? (e.filter((x) => x && typeof x === 'object') as EpochStats[]) : [];
}

export function runClasses(dir: string): string[] | null {
  const j = readRunJson(dir);
  const c = j ? (j.classes ?? obj(j.datasetSummary).classes ?? obj(j.dataset).classes ?? obj(j.model).classes) : null;
  if (Array.isArray(c) && c.every((x) => typeof x === 'string')) return c as string[];
  for (const f of ['model/model.json', 'model/classes.json']) {
    try {
      const v = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      const arr = Array.isArray(v) ? v : obj(v).classes;
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
    return obj(JSON.parse(fs.readFileSync(path.join(dir, RUN_META_JSON), 'utf8'))) as RunMeta;
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
export function runSuggestions(j: Json | null): RunSuggestions | null {
  const sg = obj(j?.suggestions),
    sr = obj(j?.statusRule);
  if (typeof sg.trusted !== 'boolean') return null;
  return {
    statusRule: sr.name === 'official' ? 'official' : 'best',
    trusted: sg.trusted,
    reason: str(sg.reason) ?? '',
    advice: str(sg.advice),
    oodThreshold: num(sr.oodThreshold),
  };
}

export function runSummary(dir: string, id: string, live?: Partial<RunSummary>): RunSummary {
  const j = readRunJson(dir);
  const cfg = obj(j?.config);
  const epochs = runEpochs(j);
  const hasSamples = fs.existsSync(path.join(dir, SAMPLES_CSV));
  const state0 = str(j?.state);
  const state: RunSummary['state'] =
    live?.state ??
    (state0 === 'running' || state0 === 'stopped' || state0 === 'done' || state0 === 'failed'
      ? state0 === 'running'
        ? 'stopped'
        : state0 // nobody runs it now: a 'running' left on disk was interrupted
      : hasSamples
        ? 'done'
        : j?.error
          ? 'failed'
          : 'stopped');
  const backend = j?.backend;
  let created = str(j?.createdAt) ?? str(j?.startedAt) ?? str(obj(j?.times).startedAt);
  if (!created) {
    try {
      created = fs.statSync(dir).birthtime.toISOString();
    } catch {
      created = new Date(0).toISOString();
    }
  }
  const counts0 = obj(j?.counts);
  const method = (str(cfg.method) ?? str(j?.method)) === 'ce' ? 'ce' : 'mopro';
  const epochsTotal = live?.epochsTotal ?? num(cfg.epochs) ?? num(j?.epochsTotal) ?? epochs.length;
  const meta = readRunMeta(dir);
  const customName = typeof meta.name === 'string' && meta.name.trim() ? meta.name.trim() : undefined;
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
    epochsDone: num(j?.epochsDone) ?? epochs.length,
    epochsTotal,
    backend: str(backend) ?? str(obj(backend).name),
    counts:
      num(counts0.clean) !== null
        ? { clean: num(counts0.clean)!, relabeled: num(counts0.relabeled) ?? 0, ood: num(counts0.ood) ?? 0 }
        : null,
    ...(str(j?.error) ? { error: str(j?.error)! } : {}),
    ...(runSuggestions(j) ? { suggestions: runSuggestions(j)! } : {}),
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
