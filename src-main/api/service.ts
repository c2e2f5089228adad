// The one implementation of the API contract (contract.ts), served by Electron IPC (app/) and by
// the HTTP server (server/). Every input is validated with the method's zod schema here, so both
// transports get the same checks; every failure leaves as an ApiError with a code.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZodError } from 'zod';
import {
  methods,
  type ApiEvent,
  type MethodName,
  type MethodParsed,
  type MethodResults,
  type RunSummary,
  type TrainConfig,
} from '../../src-shared/contract';
import { ApiError, type ApiService, type ImageFile, type ServiceOptions } from './service-types';
import type { EngineEvent, TrainingHandle, TrainOptions, RunResult } from '../engine/types';
import { Project, projectDir, projectIdFor, readRecent, type Scanner, defaultScanner } from '../project/project';
import type { ScanOptions } from '../dataset/scan';
import { checkExportNames, checkTarget, exportDataset, ExportError } from '../project/export';
import { checkOutsideFolders } from '../util/output-guard';
import { datasetIdentity, datasetMismatch, recordedIdentity } from '../engine/train/dataset-identity';
import { readRunJson, runEpochs, runSummary, writeRunMeta } from '../project/runs';
import { createRequire } from 'node:module';
import { appRoot, sampleDatasetDir } from '../paths';
import { DECISIONS_JSON } from '../../src-shared/run-format';
import { relPathProblem } from '../../src-shared/rel-path';
import { insightsHandlers } from './insights-handlers';

export interface CreateServiceOptions extends ServiceOptions {
  /** Tests and the bench inject a scanner; default is dataset/scan.ts. */
  scanner?: Scanner;
}

type Handlers = { [M in MethodName]: (input: MethodParsed<M>) => Promise<MethodResults[M]> | MethodResults[M] };

const THUMB_SIZE = 128;
/** Decompression-bomb guard for thumbnails (sharp's default allows 268 Mpx). */
const MAX_INPUT_PIXELS = 64_000_000;
const MIME: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.avif': 'image/avif',
  '.bmp': 'image/bmp',
};

/**
 * Which training backends load here. The native tensorflow packages are optional dependencies
 * that are often missing: offering them would only produce a failed run.
 */
function backendAvailability(): { available: string[]; unavailable: { name: string; why: string }[] } {
  const req = createRequire(path.join(appRoot(), 'package.json'));
  const has = (pkg: string): boolean => {
    try {
      req.resolve(pkg);
      return true;
    } catch {
      return false;
    }
  };
  const available = ['auto'];
  const unavailable: { name: string; why: string }[] = [];
  if (has('@tensorflow/tfjs-node-gpu') || has('@tensorflow/tfjs-node')) available.push('tensorflow');
  else
    unavailable.push({
      name: 'tensorflow',
      why: 'not installed (the optional @tensorflow/tfjs-node package did not install here)',
    });
  // installed is all this says: whether a GPU adapter answers is found out when a run starts (backend event)
  if (has('webgpu') && has('@tensorflow/tfjs-backend-webgpu')) available.push('webgpu');
  else
    unavailable.push({
      name: 'webgpu',
      why: 'not installed (the webgpu / @tensorflow/tfjs-backend-webgpu packages are missing)',
    });
  if (has('@tensorflow/tfjs-backend-wasm')) available.push('wasm');
  else unavailable.push({ name: 'wasm', why: 'not installed (@tensorflow/tfjs-backend-wasm is missing)' });
  available.push('cpu');
  return { available, unavailable };
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ZodError) {
    const i = e.issues[0];
    return new ApiError(
      'BAD_INPUT',
      `invalid input${i?.path.length ? ` at ${i.path.join('.')}` : ''}: ${i?.message ?? e.message}`,
    );
  }
  const err = e as Error & { code?: string };
  const msg = String(err?.message ?? e).split('\n')[0];
  if (err?.name === 'DatasetError' || err?.name === 'OutputRefused' || err instanceof ExportError)
    return new ApiError('BAD_INPUT', msg);
  if (err?.name === 'ProjectReadOnlyError' || err?.name === 'JournalReadOnlyError')
    return new ApiError('CONFLICT', msg);
  if (err?.name === 'JournalWriteError') return new ApiError('UNAVAILABLE', msg);
  if (err instanceof RangeError) return new ApiError('NOT_FOUND', msg);
  if (err?.code === 'ENOENT') return new ApiError('NOT_FOUND', msg);
  return new ApiError('INTERNAL', msg);
}

/** Rejects every relative path that is not a plain 'a/b/c' inside the root, before touching the disk. */
export function checkRelPath(rel: string): void {
  const problem = relPathProblem(rel);
  if (problem) throw new ApiError('FORBIDDEN', `path refused (${problem})`);
}

const isInside = (parent: string, child: string): boolean => {
  const r = path.relative(parent, child);
  return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
};

export function createService(opts: CreateServiceOptions): ApiService {
  const scanner = opts.scanner ?? defaultScanner;
  const projects = new Map<string, Project>();
  const opening = new Map<string, Promise<Project>>();
  const training = new Map<string, { handle: TrainingHandle; project: Project }>();
  const thumbsInFlight = new Map<string, Promise<string>>();
  const knownPaths = new WeakMap<Project, Set<string>>();
  let version = '0.0.0';
  try {
    version = JSON.parse(fs.readFileSync(path.join(appRoot(), 'package.json'), 'utf8')).version ?? version;
  } catch {
    /* keep default */
  }

  /** Scans in flight (projects.open), so projects.cancelOpen can stop them. */
  const scansInFlight = new Map<AbortController, string>();

  async function openPath(p: string, scan?: ScanOptions): Promise<Project> {
    const prj = await Project.open(p, opts.dataDir, scanner, scan ? { scan } : {});
    const old = projects.get(prj.id);
    if (old && old !== prj) {
      // Reopen: keep the live training state, release the old journal handle.
      for (const [k, v] of old.live) prj.live.set(k, v);
      for (const t of training.values()) if (t.project === old) t.project = prj;
      old.close();
    }
    projects.set(prj.id, prj);
    for (const w of prj.warnings) console.warn(w);
    return prj;
  }

  /** An open project, or one opened before (project.json remembers its folder), e.g. after a restart. */
  async function project(id: string): Promise<Project> {
    const p = projects.get(id);
    if (p) {
      if (p.sync()) decisionsEvent(p); // read-only: the other writer's news, or the lock it left
      return p;
    }
    if (!/^[a-z0-9-]+$/.test(id)) throw new ApiError('NOT_FOUND', `no project "${id}"`);
    let root: string;
    try {
      root = JSON.parse(fs.readFileSync(path.join(projectDir(opts.dataDir, id), 'project.json'), 'utf8')).root;
    } catch {
      throw new ApiError('NOT_FOUND', `no project "${id}": open its dataset folder first`);
    }
    let pending = opening.get(id);
    if (!pending) {
      pending = openPath(root).finally(() => opening.delete(id));
      opening.set(id, pending);
    }
    return pending;
  }

  function findRun(runId: string): { project: Project; dir: string } {
    const t = training.get(runId);
    if (t) return { project: t.project, dir: path.join(t.project.runsRoot, runId) };
    for (const p of projects.values()) {
      const dir = p.runDir(runId);
      if (dir) return { project: p, dir };
    }
    throw new ApiError('NOT_FOUND', `no run "${runId}" in the open projects`);
  }

  function decisionsEvent(p: Project): { reviewed: number; canUndo: boolean; canRedo: boolean } {
    const s = { reviewed: p.reviewed, canUndo: p.journal.canUndo, canRedo: p.journal.canRedo };
    opts.emit({ type: 'decisions.changed', projectId: p.id, ...s });
    return s;
  }

  async function startEngine(
    project: Project,
    runId: string,
    train: Omit<TrainOptions, 'dataset' | 'out'>,
  ): Promise<void> {
    if (training.size)
      throw new ApiError('CONFLICT', `a run is already training (${[...training.keys()][0]}); stop it first`);
    const out = path.join(project.runsRoot, runId);
    let engine: typeof import('../engine/index');
    try {
      engine = await import('../engine/index');
    } catch (e) {
      throw new ApiError('INTERNAL', `training engine unavailable: ${(e as Error).message.split('\n')[0]}`);
    }
    // A resumed run continues from its checkpoint: its epoch counts come from run.json, not zero.
    const before = train.resume ? runSummary(out, runId) : null;
    const epochs = train.epochs ?? before?.epochsTotal ?? 0;
    const live: Partial<RunSummary> = {
      state: 'running',
      epochsDone: before?.epochsDone ?? 0,
      ...(epochs ? { epochsTotal: epochs } : {}),
    };
    project.live.set(runId, live);
    const onEvent = (e: EngineEvent): void => {
      const ev: ApiEvent | null =
        e.type === 'step'
          ? {
              type: 'train.progress',
              runId,
              epoch: e.epoch,
              epochs: e.epochs,
              step: e.step,
              steps: e.steps,
              loss: e.loss,
              imagesPerSec: e.imagesPerSec,
              etaSeconds: e.etaSeconds,
              phase: 'train',
            }
          : e.type === 'phase'
            ? {
                type: 'train.progress',
                runId,
                epoch: live.epochsDone ?? 0,
                epochs: live.epochsTotal ?? epochs,
                step: e.done,
                steps: e.total,
                loss: 0,
                imagesPerSec: 0,
                etaSeconds: null,
                phase: e.phase,
              }
            : e.type === 'epoch'
              ? { type: 'train.epoch', runId, stats: e.stats }
              : null;
      if (e.type === 'epoch') live.epochsDone = e.stats.epoch + 1;
      if (e.type === 'step' && e.epochs) live.epochsTotal = e.epochs;
      if (e.type === 'backend') live.backend = e.name;
      if (ev) opts.emit(ev);
    };
    let handle: TrainingHandle;
    try {
      handle = engine.startTraining(
        { dataset: project.root, out, cacheDir: opts.cacheDir, ...train },
        onEvent,
        undefined,
        { spawn: opts.spawnJob },
      );
    } catch (e) {
      project.live.delete(runId);
      throw toApiError(e);
    }
    training.set(runId, { handle, project });
    handle.done.then(
      (r: RunResult) => {
        const p = training.get(runId)?.project ?? projects.get(project.id) ?? project;
        training.delete(runId);
        p.live.delete(runId);
        if (r.state === 'done') {
          try {
            p.loadRun(runId);
          } catch (err) {
            console.warn(String(err));
          }
        }
        opts.emit({ type: 'train.done', runId, state: r.state });
      },
      (err: unknown) => {
        training.delete(runId);
        const p = projects.get(project.id) ?? project;
        const msg = String((err as Error)?.message ?? err).split('\n')[0];
        p.live.set(runId, { state: 'failed', error: msg });
        opts.emit({ type: 'train.done', runId, state: 'failed', error: msg });
      },
    );
  }

  function trainOptions(c: TrainConfig): Omit<TrainOptions, 'dataset' | 'out'> {
    return {
      method: c.method,
      epochs: c.epochs,
      batchSize: c.batchSize,
      imageSize: c.imageSize,
      backend: c.backend,
      seed: c.seed,
      arch: c.arch,
      sampling: c.sampling,
      pretrain: c.pretrain,
      statusRule: c.statusRule,
      ...(c.pretrained || c.initRun ? { freezeBackbone: c.freezeBackbone ?? false } : {}),
      ...(c.pretrained ? { pretrained: c.pretrained } : {}),
    };
  }

  const handlers: Handlers = {
    'app.info': () => ({
      version,
      mode: opts.mode,
      sampleDataset: fs.existsSync(sampleDatasetDir()) ? sampleDatasetDir() : null,
      backends: backendAvailability().available,
      unavailableBackends: backendAvailability().unavailable,
    }),
    'projects.recent': () => readRecent(opts.dataDir),
    'projects.open': async ({ path: p }) => {
      if (!path.isAbsolute(p))
        throw new ApiError('BAD_INPUT', `"${p}" is not an absolute path: give the full path of the dataset folder`);
      // The scan reports what it has found and stops when projects.cancelOpen asks (a huge or wrong folder).
      const ac = new AbortController();
      scansInFlight.set(ac, path.resolve(p));
      const projectId = projectIdFor(path.resolve(p));
      try {
        return (
          await openPath(p, {
            signal: ac.signal,
            onWalk: (files) => opts.emit({ type: 'scan.progress', projectId, path: p, done: files, total: 0 }),
            onProgress: (done, total) => opts.emit({ type: 'scan.progress', projectId, path: p, done, total }),
          })
        ).summary();
      } finally {
        scansInFlight.delete(ac);
      }
    },
    'projects.cancelOpen': ({ path: p }) => {
      let cancelled = 0;
      for (const [ac, where] of scansInFlight)
        if (where === path.resolve(p)) {
          ac.abort();
          cancelled++;
        }
      return { cancelled };
    },
    'projects.get': async ({ projectId }) => (await project(projectId)).summary(),
    'projects.setActiveRun': async ({ projectId, runId }) => {
      const p = await project(projectId);
      if (!p.runDir(runId)) throw new ApiError('NOT_FOUND', `no run "${runId}" in project ${projectId}`);
      if (training.has(runId)) throw new ApiError('CONFLICT', `run "${runId}" is still training`);
      p.loadRun(runId);
      return p.summary();
    },
    'train.start': async ({ projectId, config }) => {
      const p = await project(projectId);
      const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${config.method}-${crypto.randomBytes(2).toString('hex')}`;
      // The app's runs folder lives in its data folder; refuse when that sits inside (or above) the dataset.
      checkOutsideFolders(path.join(p.runsRoot, runId), [{ path: p.root, what: 'dataset' }], 'run folder');
      const extra = config.useDecisions ? p.decisionsForTraining() : {};
      // "Start from: an earlier run": that run's folder (its encoder, arch and image size; --init)
      const initDir = config.initRun ? p.runDir(config.initRun) : null;
      if (config.initRun && !initDir)
        throw new ApiError('NOT_FOUND', `no run "${config.initRun}" in project ${projectId} to start from`);
      const avail = backendAvailability();
      const missing = avail.unavailable.find((b) => b.name === config.backend);
      if (missing)
        throw new ApiError(
          'BAD_INPUT',
          `the ${missing.name} backend is ${missing.why}; choose auto, ${avail.available.filter((b) => b !== 'auto').join(' or ')}`,
        );
      if (config.useDecisions) {
        // Kept beside the run so a resume trains with the same human decisions.
        const dir = path.join(p.runsRoot, runId);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, DECISIONS_JSON), JSON.stringify(extra));
      }
      await startEngine(p, runId, { ...trainOptions(config), ...extra, ...(initDir ? { init: initDir } : {}) });
      // After the engine accepted the run: a refused start must not leave a folder behind.
      writeRunMeta(path.join(p.runsRoot, runId), { preset: config.preset });
      return { runId };
    },
    'train.stop': ({ runId }) => {
      const t = training.get(runId);
      if (!t) throw new ApiError('NOT_FOUND', `run "${runId}" is not training`);
      t.handle.stop();
      return { ok: true as const };
    },
    'train.resume': async ({ runId }) => {
      if (training.has(runId)) throw new ApiError('CONFLICT', `run "${runId}" is already training`);
      const { project: p, dir } = findRun(runId);
      if (path.dirname(dir) !== p.runsRoot)
        throw new ApiError('BAD_INPUT', `run "${runId}" is outside the project's runs folder; resume it with the CLI`);
      // Files added or removed since the checkpoint: its sample indices no longer fit; say so before starting.
      const was = recordedIdentity(dir);
      const why = was && datasetMismatch(dir, was, datasetIdentity(p.scan.root, p.scan.classes, p.scan.samples));
      if (why) throw new ApiError('BAD_INPUT', why);
      // The engine takes the configuration from its checkpoint; decisions come from our side file.
      const cfg = (readRunJson(dir)?.config ?? {}) as Partial<TrainOptions>;
      let dec: Pick<TrainOptions, 'fixedLabels' | 'excluded'> = {};
      try {
        dec = JSON.parse(fs.readFileSync(path.join(dir, DECISIONS_JSON), 'utf8'));
      } catch {
        /* trained without decisions */
      }
      await startEngine(p, runId, {
        method: cfg.method === 'ce' ? 'ce' : 'mopro',
        backend: 'auto',
        ...dec,
        resume: true,
      });
      return { runId };
    },
    'runs.delete': async ({ projectId, runId }) => {
      const p = await project(projectId);
      if (training.has(runId)) throw new ApiError('CONFLICT', `run "${runId}" is training: stop it before deleting it`);
      const dir = p.runDir(runId);
      if (!dir) throw new ApiError('NOT_FOUND', `no run "${runId}" in project ${projectId}`);
      // Only folders the app created under its runs folder; a run opened from elsewhere is not ours to delete.
      if (path.dirname(dir) !== p.runsRoot)
        throw new ApiError(
          'FORBIDDEN',
          `run "${runId}" lives outside the app's runs folder (${dir}); delete it there yourself`,
        );
      fs.rmSync(dir, { recursive: true, force: true });
      p.live.delete(runId);
      p.dropRun(runId);
      return p.summary();
    },
    'runs.rename': async ({ projectId, runId, name }) => {
      const p = await project(projectId);
      const dir = p.runDir(runId);
      if (!dir) throw new ApiError('NOT_FOUND', `no run "${runId}" in project ${projectId}`);
      writeRunMeta(dir, { name: name.trim() || undefined });
      return p.summary();
    },
    'runs.get': ({ runId }) => {
      const { project: p, dir } = findRun(runId);
      const j = readRunJson(dir);
      return { summary: runSummary(dir, runId, p.live.get(runId)), epochs: runEpochs(j), runJson: j };
    },
    'samples.query': async ({ projectId, filter, sort, offset, limit }) =>
      (await project(projectId)).query.page(filter, sort, offset, limit),
    'samples.ids': async ({ projectId, filter }) => ({ ids: Array.from((await project(projectId)).query.ids(filter)) }),
    'samples.get': async ({ projectId, id }) => {
      const p = await project(projectId);
      const d = p.detail(id);
      try {
        // Header only (no decode): cheap, and bounded by the same pixel guard as thumbnails.
        const real = fs.realpathSync(path.join(p.root, ...d.path.split('/')));
        if (!isInside(fs.realpathSync(p.root), real)) return d; // a symlink out of the dataset: not even its size
        const { default: sharp } = await import('sharp');
        const m = await sharp(real, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
        if (m.width && m.height) {
          d.width = m.width;
          d.height = m.height;
        }
      } catch {
        /* missing or undecodable: the detail panel shows no size */
      }
      return d;
    },
    'decisions.apply': async ({ projectId, ids, action }) => {
      const p = await project(projectId);
      const applied = p.apply(ids, action);
      return { applied, ...decisionsEvent(p) };
    },
    'decisions.undo': async ({ projectId }) => {
      const p = await project(projectId);
      const undone = p.undo();
      return { undone, ...decisionsEvent(p) };
    },
    'decisions.redo': async ({ projectId }) => {
      const p = await project(projectId);
      const redone = p.redo();
      return { redone, ...decisionsEvent(p) };
    },
    'export.start': async ({ projectId, to, mode, includeOod }) => {
      const p = await project(projectId);
      if (!path.isAbsolute(to)) throw new ApiError('BAD_INPUT', `export target "${to}" is not an absolute path`);
      checkTarget(to, p.root); // refuse before answering, so the dialog shows the reason
      const jobId = crypto.randomBytes(6).toString('hex');
      const rows = p.exportRows();
      checkExportNames(rows, mode, includeOod); // a class folder named like the manifest or _ood/: refused before any copy
      void exportDataset({
        rows,
        datasetRoot: p.root,
        to,
        mode,
        includeOod,
        onProgress: (done, total) => opts.emit({ type: 'export.progress', jobId, done, total }),
      }).then(
        (r) => opts.emit({ type: 'export.done', jobId, ok: true, dir: r.dir, summary: r.summary }),
        (e) =>
          opts.emit({
            type: 'export.done',
            jobId,
            ok: false,
            error: String((e as Error).message ?? e).split('\n')[0],
            dir: to,
          }),
      );
      return { jobId };
    },
    ...insightsHandlers({ project, emit: opts.emit }), // insights.* (src-main/insights/handlers.ts)
  };

  async function thumbnail(abs: string, st: fs.Stats): Promise<string> {
    const key = crypto.createHash('sha256').update(`${abs}\0${st.mtimeMs}\0${st.size}`).digest('hex');
    const file = path.join(opts.cacheDir, 'thumbs', key.slice(0, 2), `${key}.webp`);
    if (fs.existsSync(file)) return file;
    let p = thumbsInFlight.get(key);
    if (!p) {
      p = (async () => {
        const { default: sharp } = await import('sharp');
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.${crypto.randomBytes(3).toString('hex')}.tmp`;
        await sharp(abs, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
          .rotate() // honour EXIF orientation
          .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
          .webp({ quality: 80 })
          .toFile(tmp);
        fs.renameSync(tmp, file);
        return file;
      })().finally(() => thumbsInFlight.delete(key));
      thumbsInFlight.set(key, p);
    }
    return p;
  }

  return {
    async call(method, input) {
      if (typeof method !== 'string' || !Object.hasOwn(methods, method))
        throw new ApiError('NOT_FOUND', `unknown method "${String(method).slice(0, 100)}"`);
      const m = method as MethodName;
      try {
        const parsed = methods[m].parse(input ?? {});
        return await (handlers[m] as (i: unknown) => unknown)(parsed);
      } catch (e) {
        throw toApiError(e);
      }
    },

    async image(projectId, relPath, kind) {
      if (kind !== 'thumb' && kind !== 'full') throw new ApiError('BAD_INPUT', 'kind must be thumb or full');
      checkRelPath(relPath);
      const p = await project(projectId).catch((e) => {
        throw toApiError(e);
      });
      let known = knownPaths.get(p);
      if (!known || known.size !== p.scan.samples.length) {
        known = new Set(p.scan.samples.map((s) => s.rel));
        knownPaths.set(p, known);
      }
      if (!known.has(relPath)) throw new ApiError('NOT_FOUND', `"${relPath}" is not an image of this project`);
      let real: string, rootReal: string, st: fs.Stats;
      try {
        rootReal = fs.realpathSync(p.root);
        real = fs.realpathSync(path.join(p.root, ...relPath.split('/')));
        st = fs.statSync(real);
      } catch {
        throw new ApiError('NOT_FOUND', `"${relPath}" is gone from disk`);
      }
      // Symlinks inside the dataset may not lead out of it.
      if (!isInside(rootReal, real)) throw new ApiError('FORBIDDEN', 'path refused (leads outside the dataset)');
      if (!st.isFile()) throw new ApiError('NOT_FOUND', `"${relPath}" is not a file`);
      if (kind === 'full')
        return {
          file: real,
          mime: MIME[path.extname(real).toLowerCase()] ?? 'application/octet-stream',
        } satisfies ImageFile;
      try {
        return { file: await thumbnail(real, st), mime: 'image/webp' };
      } catch (e) {
        throw new ApiError(
          'NOT_FOUND',
          `no thumbnail for "${relPath}": ${String((e as Error).message).split('\n')[0]}`,
        );
      }
    },

    async dispose() {
      for (const t of training.values()) t.handle.stop();
      await Promise.allSettled([...training.values()].map((t) => t.handle.done));
      for (const p of projects.values()) p.close();
      projects.clear();
    },
  };
}
