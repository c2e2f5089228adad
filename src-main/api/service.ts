// The one implementation of the API contract (src-shared/contract.ts), served by Electron IPC (app/) and by
// the HTTP server (server/): the dispatch from method name to handler and the mapping of every failure to an
// ApiError with a code. Every input is validated with the method's zod schema here, so both transports get the
// same checks. The work lives beside it: project-registry.ts (open projects), training-manager.ts (runs),
// images.ts (image files and thumbnails), insights-handlers.ts (insights.*).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZodError } from 'zod';
import { methods, type MethodName, type MethodParsed, type MethodResults } from '../../src-shared/contract';
import { ApiError, type ApiService, type ServiceOptions } from './service-types';
import { projectIdFor, readRecent, type Scanner, defaultScanner } from '../project/project';
import { checkExportNames, checkTarget, exportDataset, ExportError } from '../project/export';
import { writeRunMeta } from '../project/runs';
import { appRoot, sampleDatasetDir } from '../paths';
import { backendAvailability } from './backends';
import { createProjectRegistry } from './project-registry';
import { createTrainingManager } from './training-manager';
import { createImages } from './images';
import { insightsHandlers } from './insights-handlers';

export interface CreateServiceOptions extends ServiceOptions {
  /** Tests and the bench inject a scanner; default is dataset/scan.ts. */
  scanner?: Scanner;
}

type Handlers = { [M in MethodName]: (input: MethodParsed<M>) => Promise<MethodResults[M]> | MethodResults[M] };

/** Any failure as an ApiError: zod issues and bad datasets are BAD_INPUT, a lock held elsewhere CONFLICT, etc. */
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

export function createService(opts: CreateServiceOptions): ApiService {
  let version = '0.0.0';
  try {
    version = JSON.parse(fs.readFileSync(path.join(appRoot(), 'package.json'), 'utf8')).version ?? version;
  } catch {
    /* keep default */
  }
  const registry = createProjectRegistry({
    dataDir: opts.dataDir,
    scanner: opts.scanner ?? defaultScanner,
    emit: opts.emit,
    onReopen: (old, prj) => runs.adopt(old, prj),
  });
  const runs = createTrainingManager({
    registry,
    cacheDir: opts.cacheDir,
    emit: opts.emit,
    spawnJob: opts.spawnJob,
  });
  const project = registry.project;
  const images = createImages({
    cacheDir: opts.cacheDir,
    project: (id) =>
      project(id).catch((e) => {
        throw toApiError(e);
      }),
  });

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
      const untrack = registry.trackScan(path.resolve(p), ac);
      const projectId = projectIdFor(path.resolve(p));
      try {
        return (
          await registry.openPath(p, {
            signal: ac.signal,
            onWalk: (files) => opts.emit({ type: 'scan.progress', projectId, path: p, done: files, total: 0 }),
            onProgress: (done, total) => opts.emit({ type: 'scan.progress', projectId, path: p, done, total }),
          })
        ).summary();
      } finally {
        untrack();
      }
    },
    'projects.cancelOpen': ({ path: p }) => ({ cancelled: registry.cancelOpen(path.resolve(p)) }),
    'projects.get': async ({ projectId }) => (await project(projectId)).summary(),
    'projects.setActiveRun': async ({ projectId, runId }) => {
      const p = await project(projectId);
      if (!p.runDir(runId)) throw new ApiError('NOT_FOUND', `no run "${runId}" in project ${projectId}`);
      if (runs.isTraining(runId)) throw new ApiError('CONFLICT', `run "${runId}" is still training`);
      p.loadRun(runId);
      return p.summary();
    },
    'train.start': ({ projectId, config }) => runs.start(projectId, config),
    'train.stop': ({ runId }) => {
      runs.stop(runId);
      return { ok: true as const };
    },
    'train.resume': ({ runId }) => runs.resume(runId),
    'runs.delete': async ({ projectId, runId }) => {
      const p = await project(projectId);
      if (runs.isTraining(runId))
        throw new ApiError('CONFLICT', `run "${runId}" is training: stop it before deleting it`);
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
    'runs.get': ({ runId }) => runs.status(runId),
    'samples.query': async ({ projectId, filter, sort, offset, limit }) =>
      (await project(projectId)).query.page(filter, sort, offset, limit),
    'samples.ids': async ({ projectId, filter }) => ({ ids: Array.from((await project(projectId)).query.ids(filter)) }),
    'samples.get': async ({ projectId, id }) => {
      const p = await project(projectId);
      const d = p.detail(id);
      const size = await images.size(p, d.path);
      if (size) {
        d.width = size.width;
        d.height = size.height;
      }
      return d;
    },
    'decisions.apply': async ({ projectId, ids, action }) => {
      const p = await project(projectId);
      const applied = p.apply(ids, action);
      return { applied, ...registry.decisionsEvent(p) };
    },
    'decisions.undo': async ({ projectId }) => {
      const p = await project(projectId);
      const undone = p.undo();
      return { undone, ...registry.decisionsEvent(p) };
    },
    'decisions.redo': async ({ projectId }) => {
      const p = await project(projectId);
      const redone = p.redo();
      return { redone, ...registry.decisionsEvent(p) };
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
    ...insightsHandlers({ project, emit: opts.emit }), // insights.* (insights-handlers.ts)
  };

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

    image: (projectId, relPath, kind) => images.image(projectId, relPath, kind),

    async dispose() {
      await runs.dispose();
      registry.closeAll();
    },
  };
}
