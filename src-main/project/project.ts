// A project = a dataset folder + its runs + the person's decisions (design.md §3). Lives in
// <dataDir>/projects/<id>/ (journal.jsonl, project.json, runs/<runId>/), never in the dataset.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DecisionAction, ProjectSummary, RunSummary, SampleDetail } from '../../src-shared/contract';
import type { DatasetSample, ScanResult } from '../dataset/types';
import type { ScanOptions } from '../dataset/scan';
import { writeAtomicSync } from '../util/atomic';
import { Journal } from './journal';
import { acquireLock, describeHolder, liveHolder, releaseLock, type LockHolder } from './lock';
import { QueryEngine } from './query';
import { isRunFolder, readQRow, readSamples, runClasses, runDatasetRoot, runSummary } from './runs';
import { buildTable, rowOf, setDecision, type SampleTable } from './table';

export type Scanner = (root: string, opts?: ScanOptions) => Promise<ScanResult>;

export const defaultScanner: Scanner = async (root, opts) => (await import('../dataset/scan')).scanDataset(root, opts);

/** Stable id from the dataset's absolute path: readable name + hash. */
export function projectIdFor(absRoot: string): string {
  const slug =
    path
      .basename(absRoot)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 40) || 'dataset';
  return `${slug}-${crypto.createHash('sha256').update(path.resolve(absRoot)).digest('hex').slice(0, 12)}`;
}

/** What a rename or move keeps: size and modification time. */
export function fingerprint(s: Pick<DatasetSample, 'bytes' | 'mtimeMs'>): string {
  return `${s.bytes}:${Math.round(s.mtimeMs)}`;
}

export function projectDir(dataDir: string, id: string): string {
  return path.join(dataDir, 'projects', id);
}
export function runsDir(dataDir: string, id: string): string {
  return path.join(projectDir(dataDir, id), 'runs');
}

interface ProjectMeta {
  root: string;
  activeRunId: string | null;
  externalRuns: Record<string, string>;
}

/** A change asked of a project this process may only read (another process has it open for writing). */
export class ProjectReadOnlyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProjectReadOnlyError';
  }
}

export interface OpenOptions {
  /** Only read (CLI export, train --use-decisions): never take the writer lock, never write project files. */
  readOnly?: boolean;
  /** Progress and cancel of the folder scan. */
  scan?: ScanOptions;
}

export interface RecentEntry {
  path: string;
  name: string;
  openedAt: string;
}

export function readRecent(dataDir: string): RecentEntry[] {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(dataDir, 'recent.json'), 'utf8'));
    return Array.isArray(v) ? v.filter((e) => e && typeof e.path === 'string') : [];
  } catch {
    return [];
  }
}

export function touchRecent(dataDir: string, root: string, name: string): void {
  const list = readRecent(dataDir).filter((e) => e.path !== root);
  list.unshift({ path: root, name, openedAt: new Date().toISOString() });
  fs.mkdirSync(dataDir, { recursive: true });
  writeAtomicSync(path.join(dataDir, 'recent.json'), JSON.stringify(list.slice(0, 20), null, 1));
}

export interface ExportRow {
  rel: string;
  abs: string;
  given: string;
  finalLabel: string | null;
  source: string;
}

export class Project {
  readonly id: string;
  readonly name: string;
  /** Replaced when a read-only project becomes the writer (the other process's decisions are read anew). */
  journal: Journal;
  /** Another live process holds the writer lock: this one shows the project read-only. */
  openElsewhere: LockHolder | null = null;
  /** Path of the writer lock while this process holds it. */
  private lockFile: string | null = null;
  private lastLockCheck = 0;
  table: SampleTable;
  query: QueryEngine;
  reconcile: ProjectSummary['reconcile'] = null;
  /** One-line notes from opening (journal recovery, unreadable runs). */
  readonly warnings: string[] = [];
  /** The run shown; `rows` = how many table rows come from its samples.csv (the rest are files added since). */
  activeRun: { id: string; dir: string; rows: number } | null = null;
  /** Files renamed since the run whose decision followed them (also counted in added/removed). */
  renamed = 0;
  /** new path -> old path, for renamed decided files. */
  private readonly aliasOf = new Map<string, string>();
  private onDisk = new Map<string, DatasetSample>();
  /** rel path -> row of the active table. */
  private rowOfPath = new Map<string, number>();
  /** Runs this process is training right now: their live state overrides run.json. */
  readonly live = new Map<string, Partial<RunSummary>>();
  private meta: ProjectMeta;

  private constructor(
    readonly root: string,
    readonly dataDir: string,
    public scan: ScanResult,
    private readonly opts: OpenOptions = {},
  ) {
    this.id = projectIdFor(root);
    this.name = path.basename(root);
    const dir = projectDir(dataDir, this.id);
    fs.mkdirSync(path.join(dir, 'runs'), { recursive: true });
    if (!opts.readOnly) {
      const lock = acquireLock(this.lockPath);
      if (lock.ok) {
        this.lockFile = this.lockPath;
        if (lock.note) this.warnings.push(lock.note);
      } else {
        this.openElsewhere = lock.holder;
        this.warnings.push(`${this.name}: open elsewhere (${describeHolder(lock.holder)}): showing it read-only here`);
      }
    }
    try {
      this.journal = Journal.open(this.journalPath, { readOnly: this.readOnly });
    } catch (e) {
      if (this.lockFile) releaseLock(this.lockFile);
      throw e;
    }
    this.warnings.push(...this.journal.warnings);
    this.meta = { root, activeRunId: null, externalRuns: {} };
    try {
      Object.assign(this.meta, JSON.parse(fs.readFileSync(path.join(dir, 'project.json'), 'utf8')));
    } catch {
      /* new project */
    }
    this.meta.root = root;
    this.table = buildTable([]);
    this.query = new QueryEngine(this.table);
  }

  /**
   * Opens a dataset folder, or a run folder (then its dataset, with the run registered and active).
   * Loads the active (else newest finished) run and applies the journal.
   */
  static async open(
    p: string,
    dataDir: string,
    scanner: Scanner = defaultScanner,
    opts: OpenOptions = {},
  ): Promise<Project> {
    let root = path.resolve(p);
    let runDir: string | null = null;
    if (isRunFolder(root)) {
      const ds = runDatasetRoot(root);
      if (!ds)
        throw new Error(`${path.join(root, 'run.json')}: no dataset path in it; open the dataset folder instead`);
      runDir = root;
      root = path.resolve(ds);
    }
    const scan = await scanner(root, opts.scan);
    const prj = new Project(scan.root, dataDir, scan, opts);
    try {
      if (runDir) {
        const inside = path.dirname(runDir) === runsDir(dataDir, prj.id);
        const id = inside ? path.basename(runDir) : prj.externalId(runDir);
        prj.meta.activeRunId = id;
      }
      const finished = prj
        .runs()
        .filter((r) => fs.existsSync(path.join(r.dir, 'samples.csv')))
        .reverse();
      const active = finished.findIndex((r) => r.id === prj.meta.activeRunId);
      if (active > 0) finished.unshift(...finished.splice(active, 1));
      let loaded = false;
      for (const r of finished) {
        try {
          prj.loadRun(r.id);
          loaded = true;
          break;
        } catch (e) {
          // A broken run must not lock the person out of the project: say so, try the next one.
          if (runDir) throw e;
          prj.warnings.push(String((e as Error).message).split('\n')[0]);
        }
      }
      if (!loaded) prj.loadScanOnly();
      prj.saveMeta();
    } catch (e) {
      prj.close(); // a project that failed to open must not keep the writer lock
      throw e;
    }
    touchRecent(dataDir, prj.root, prj.name);
    return prj;
  }

  private externalId(dir: string): string {
    for (const [id, d] of Object.entries(this.meta.externalRuns)) if (d === dir) return id;
    const id = `ext-${path.basename(dir).replace(/[^A-Za-z0-9._-]/g, '_')}-${crypto.createHash('sha256').update(dir).digest('hex').slice(0, 6)}`;
    this.meta.externalRuns[id] = dir;
    return id;
  }

  private get lockPath(): string {
    return path.join(projectDir(this.dataDir, this.id), 'writer.lock');
  }
  private get journalPath(): string {
    return path.join(projectDir(this.dataDir, this.id), 'journal.jsonl');
  }

  /** True while another process (or the caller's choice) keeps this one from writing decisions. */
  get readOnly(): boolean {
    return this.lockFile === null;
  }

  /**
   * Read-only: picks up the writer's new decisions, and becomes the writer once the other process
   * has closed the project or died. Cheap (a stat and a small read); called before API work.
   * Returns true when the decisions shown may have changed.
   */
  sync(): boolean {
    if (!this.readOnly || this.opts.readOnly) return false;
    const now = Date.now();
    if (now - this.lastLockCheck >= 1000) {
      this.lastLockCheck = now;
      const h = liveHolder(this.lockPath); // a look first: taking the lock writes files
      if (h) this.openElsewhere = h;
      else if (this.tryBecomeWriter()) return true;
    }
    const changed = this.journal.catchUp();
    if (changed === null) {
      this.journal.close();
      this.journal = Journal.open(this.journalPath, { readOnly: true });
    }
    if (changed !== false) this.reapplyDecisions();
    return changed !== false;
  }

  /** Takes the writer lock if it is free (or stale); then the journal is reopened for writing. */
  private tryBecomeWriter(): boolean {
    const lock = acquireLock(this.lockPath);
    if (!lock.ok) {
      this.openElsewhere = lock.holder;
      return false;
    }
    this.lockFile = this.lockPath;
    this.openElsewhere = null;
    if (lock.note) {
      this.warnings.push(lock.note);
      console.warn(lock.note);
    }
    try {
      const j = Journal.open(this.journalPath);
      this.journal.close();
      this.journal = j;
      for (const w of j.warnings) console.warn(w);
    } catch (e) {
      releaseLock(this.lockPath);
      this.lockFile = null;
      throw e;
    }
    this.reapplyDecisions();
    return true;
  }

  /** Throws ProjectReadOnlyError unless this process may write decisions (taking a free lock first). */
  private ensureWriter(): void {
    if (!this.readOnly) return;
    if (!this.opts.readOnly && this.tryBecomeWriter()) return;
    const where = this.openElsewhere
      ? `it is open elsewhere (${describeHolder(this.openElsewhere)})`
      : 'it was opened read-only';
    throw new ProjectReadOnlyError(
      `decisions refused: project "${this.name}" is read-only here because ${where}; close it there, then try again`,
    );
  }

  /** The journal changed under us (another writer, or a takeover): every row's decision is read again. */
  private reapplyDecisions(): void {
    for (let i = 0; i < this.table.n; i++) setDecision(this.table, i, null);
    this.install(this.table);
  }

  private saveMeta(): void {
    if (this.readOnly) return; // the writer owns project.json
    writeAtomicSync(path.join(projectDir(this.dataDir, this.id), 'project.json'), JSON.stringify(this.meta, null, 1));
  }

  get runsRoot(): string {
    return runsDir(this.dataDir, this.id);
  }

  runDir(runId: string): string | null {
    if (this.meta.externalRuns[runId]) return this.meta.externalRuns[runId];
    if (!/^[A-Za-z0-9._-]+$/.test(runId) || runId.startsWith('.')) return null;
    const d = path.join(this.runsRoot, runId);
    return fs.existsSync(d) ? d : null;
  }

  runs(): RunSummary[] {
    const out: RunSummary[] = [];
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.runsRoot).filter((n) => !n.startsWith('.'));
    } catch {
      /* none yet */
    }
    for (const n of names) {
      const d = path.join(this.runsRoot, n);
      if (fs.statSync(d).isDirectory()) out.push(runSummary(d, n, this.live.get(n)));
    }
    for (const [id, d] of Object.entries(this.meta.externalRuns))
      if (fs.existsSync(d)) out.push(runSummary(d, id, this.live.get(id)));
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /**
   * Makes `runId` the run whose suggestions the grid shows. Files added on disk since the run are
   * appended as rows without a model opinion (folder label, scores 0), so they are reviewed and
   * exported too; files gone from disk stay in the table, hidden (present = 0).
   */
  loadRun(runId: string): void {
    const dir = this.runDir(runId);
    if (!dir) throw new Error(`run "${runId}" not found in project ${this.id}`);
    const inputs = readSamples(dir);
    const runRows = inputs.length;
    const inRun = new Set(inputs.map((r) => r.path));
    for (const s of this.scan.samples) {
      if (!inRun.has(s.rel))
        inputs.push({ path: s.rel, given: s.label, suggested: s.label, status: 'clean', confidence: 0, oodScore: 0 });
    }
    this.activeRun = { id: runId, dir, rows: runRows };
    this.meta.activeRunId = runId;
    this.install(buildTable(inputs, runClasses(dir) ?? this.scan.classes, runRows));
    this.saveMeta();
  }

  /** After a run folder was deleted: show the newest other finished run, else the folder labels. */
  dropRun(runId: string): void {
    if (this.activeRun?.id !== runId) return;
    const next = this.runs()
      .filter((r) => r.id !== runId && fs.existsSync(path.join(r.dir, 'samples.csv')))
      .pop();
    if (next) {
      try {
        this.loadRun(next.id);
        return;
      } catch {
        /* unreadable: fall back to the folder labels */
      }
    }
    this.meta.activeRunId = null;
    this.loadScanOnly();
    this.saveMeta();
  }

  /** Before any run: the grid shows the scanned files with their folder labels. */
  private loadScanOnly(): void {
    this.activeRun = null;
    this.install(
      buildTable(
        this.scan.samples.map((s) => ({
          path: s.rel,
          given: s.label,
          suggested: s.label,
          status: 'clean' as const,
          confidence: 0,
          oodScore: 0,
        })),
        this.scan.classes,
        0,
      ),
    );
  }

  private install(table: SampleTable): void {
    this.table = table;
    this.rowOfPath = new Map(table.paths.map((p, i) => [p, i]));
    this.reconcileWithScan();
    for (const [p, d] of this.journal.decisions) {
      const r = this.rowOfPath.get(p);
      if (r !== undefined) setDecision(table, r, d);
    }
    this.carryRenames();
    this.query = new QueryEngine(table, () => this.journal.version);
  }

  /** Counts files added / removed since the run (a rename is one of each) and marks rows present. */
  private reconcileWithScan(): void {
    this.onDisk = new Map(this.scan.samples.map((s) => [s.rel, s]));
    const runRows = this.activeRun?.rows ?? this.table.n;
    let kept = 0,
      removed = 0;
    for (let i = 0; i < this.table.n; i++) {
      const here = this.onDisk.has(this.table.paths[i]);
      this.table.present[i] = here ? 1 : 0;
      if (i < runRows) {
        if (here) kept++;
        else removed++;
      }
    }
    this.reconcile = this.activeRun ? { added: this.table.n - runRows, removed, kept } : null;
  }

  /**
   * A decided file that is gone, and exactly one undecided file that appeared with the same size
   * and modification time (what a rename or move keeps): the decision follows the file.
   */
  private carryRenames(): void {
    this.aliasOf.clear();
    this.renamed = 0;
    const fresh = new Map<string, string[]>();
    // With a run, a rename target is a file the run does not list; before any run, any undecided file.
    for (let i = this.activeRun?.rows ?? 0; i < this.table.n; i++) {
      const p = this.table.paths[i];
      if (!this.table.present[i] || this.journal.get(p)) continue;
      const s = this.onDisk.get(p)!;
      const key = fingerprint(s);
      const list = fresh.get(key);
      if (list) list.push(p);
      else fresh.set(key, [p]);
    }
    for (const [p, d] of this.journal.decisions) {
      if (this.onDisk.has(p)) continue;
      const fp = this.journal.fingerprintOf(p);
      const cands = fp ? fresh.get(fp) : undefined;
      if (!cands || cands.length !== 1) continue;
      const to = cands[0];
      this.aliasOf.set(to, p);
      fresh.delete(fp!);
      setDecision(this.table, this.rowOfPath.get(to)!, d);
      this.renamed++;
    }
  }

  /** The decision that applies to a path: its own, else the one of the file it was renamed from. */
  private decisionFor(p: string): DecisionAction | null {
    const own = this.journal.get(p);
    if (own) return own;
    const from = this.aliasOf.get(p);
    return from ? this.journal.get(from) : null;
  }

  get reviewed(): number {
    let n = 0;
    for (let i = 0; i < this.table.n; i++) if (this.table.present[i] && this.table.dKind[i] >= 0) n++;
    return n;
  }

  private refreshRows(paths: readonly string[]): void {
    const touched = new Set(paths);
    for (const [to, from] of this.aliasOf) if (touched.has(from)) touched.add(to);
    for (const p of touched) {
      const r = this.rowOfPath.get(p);
      if (r !== undefined) setDecision(this.table, r, this.decisionFor(p));
    }
  }

  pathOf(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.table.n)
      throw new RangeError(`sample id ${id} is not in the active run (0..${this.table.n - 1})`);
    return this.table.paths[id];
  }

  /** Durable (fsync'ed) when it returns. */
  apply(ids: readonly number[], action: DecisionAction): number {
    const paths = ids.map((id) => this.pathOf(id));
    this.ensureWriter();
    const n = this.journal.apply(paths, action, (p) => {
      const s = this.onDisk.get(p);
      return s ? fingerprint(s) : undefined;
    });
    this.refreshRows(paths);
    return n;
  }

  undo(): number {
    this.ensureWriter();
    const p = this.journal.undo();
    this.refreshRows(p);
    return p.length;
  }
  redo(): number {
    this.ensureWriter();
    const p = this.journal.redo();
    this.refreshRows(p);
    return p.length;
  }

  detail(id: number): SampleDetail {
    this.pathOf(id);
    const row = rowOf(this.table, id);
    let classScores: SampleDetail['classScores'] = [];
    if (this.activeRun) {
      const q = id < this.activeRun.rows ? readQRow(this.activeRun.dir, this.activeRun.rows, id) : null;
      if (q) {
        const names = runClasses(this.activeRun.dir) ?? this.scan.classes;
        classScores = Array.from(q, (score, k) => ({ label: names[k] ?? `class ${k}`, score })).sort(
          (a, b) => b.score - a.score,
        );
      }
    }
    return { ...row, classScores, history: this.journal.historyOf(row.path) };
  }

  /** Rows for export: present files of the active table with their final labels. */
  exportRows(): ExportRow[] {
    const out: ExportRow[] = [];
    for (let i = 0; i < this.table.n; i++) {
      if (!this.table.present[i]) continue;
      const r = rowOf(this.table, i);
      out.push({
        rel: r.path,
        abs: path.join(this.root, ...r.path.split('/')),
        given: r.given,
        finalLabel: r.finalLabel,
        source: r.source,
      });
    }
    return out;
  }

  /** Human decisions for a retrain: fixed labels and excluded (OOD) paths. */
  decisionsForTraining(): { fixedLabels: Record<string, string>; excluded: string[] } {
    const fixedLabels: Record<string, string> = {};
    const excluded: string[] = [];
    for (let i = 0; i < this.table.n; i++) {
      if (this.table.dKind[i] < 0 || !this.table.present[i]) continue;
      const r = rowOf(this.table, i);
      if (r.finalLabel === null) excluded.push(r.path);
      else fixedLabels[r.path] = r.finalLabel;
    }
    return { fixedLabels, excluded };
  }

  summary(): ProjectSummary {
    return {
      id: this.id,
      root: this.root,
      name: this.name,
      classes: this.scan.classes,
      imageCount: this.scan.samples.length,
      skipped: this.scan.skipped,
      runs: this.runs(),
      activeRunId: this.activeRun?.id ?? null,
      reconcile: this.reconcile,
      reviewed: this.reviewed,
      openElsewhere: this.openElsewhere
        ? { pid: this.openElsewhere.pid, host: this.openElsewhere.host, since: this.openElsewhere.since }
        : null,
    };
  }

  close(): void {
    this.journal.close();
    if (this.lockFile) {
      releaseLock(this.lockFile);
      this.lockFile = null;
    }
  }
}
