// The insights.* API methods (contract.ts), plugged into the service's handler table by
// src-main/api/service.ts. Heavy results (layouts, duplicate pairs) are cached per run folder
// and file time, so switching views or reopening the tab costs nothing.
import fs from 'node:fs';
import path from 'node:path';
import type { ApiEvent, MethodParsed, MethodResults } from '../../src-shared/contract';
import { ApiError } from './service-types';
import type { Project } from '../project/project';
import { readSamples, readRunJson, runClasses, runEpochs, runSummary } from '../project/runs';
import { buildTable, type SampleTable } from '../project/table';
import { classDeltas, classHealth } from '../insights/class-health';
import { HashCache, hamming as hammingDistance } from '../insights/dhash';
import { findDuplicatesAsync, pixelDiff } from '../insights/duplicates';
import { pcaLayout, umapLayout, type Layout2D } from '../insights/layout';
import { readRunArrays, type RunArrays } from '../insights/run-arrays';
import { EMBEDDINGS_F32 } from '../../src-shared/run-format';
import type { ClassHealth, Duplicates, EmbeddingMap } from '../insights/types';

export interface InsightsContext {
  project(id: string): Promise<Project>;
  emit(e: ApiEvent): void;
}

type InsightsMethod = 'insights.embedding' | 'insights.classHealth' | 'insights.duplicates' | 'insights.compareRuns';
export type InsightsHandlers = { [M in InsightsMethod]: (input: MethodParsed<M>) => Promise<MethodResults[M]> };

interface RunCache {
  key: string;
  arrays: RunArrays;
  layouts: Map<'pca' | 'umap', Promise<Layout2D | null>>;
  duplicates: Map<string, Duplicates>;
}

const round = (v: number): number => Math.round(v * 1e4) / 1e4;
/** The image-hash check stops after this long and says so (truncated), rather than hang the tab. */
const HASH_BUDGET_MS = 30_000;

function healthOf(t: SampleTable, classes: readonly string[]): ClassHealth {
  return classHealth({
    labels: t.labels,
    classes,
    given: t.given,
    corrected: t.suggested,
    status: t.status,
    confidence: t.confidence,
    include: t.present,
  });
}

export function insightsHandlers(ctx: InsightsContext): InsightsHandlers {
  const caches = new Map<string, RunCache>(); // run dir -> cache (the two most recent)
  const hashes = new HashCache();

  async function active(projectId: string): Promise<{ p: Project; run: NonNullable<Project['activeRun']> }> {
    const p = await ctx.project(projectId);
    if (!p.activeRun) throw new ApiError('NOT_FOUND', `project ${projectId} has no finished run yet: train one first`);
    return { p, run: p.activeRun };
  }

  function cacheFor(dir: string, rows: number): RunCache {
    const old = caches.get(dir);
    // Cheap check first: a stat, so repeated calls do not re-read 50 MB of embeddings.
    let key = '';
    try {
      const st = fs.statSync(path.join(dir, EMBEDDINGS_F32));
      key = `${st.mtimeMs}:${st.size}:${rows}`;
    } catch {
      /* readRunArrays says why */
    }
    if (old && key && old.key === key) return old;
    let arrays: RunArrays;
    try {
      arrays = readRunArrays(dir, rows);
    } catch (e) {
      const err = e as Error & { code?: string };
      throw new ApiError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', err.message.split('\n')[0]);
    }
    const c: RunCache = { key, arrays, layouts: new Map(), duplicates: new Map() };
    caches.delete(dir);
    caches.set(dir, c);
    while (caches.size > 2) caches.delete(caches.keys().next().value!);
    return c;
  }

  return {
    'insights.embedding': async ({ projectId, method }) => {
      const { p, run } = await active(projectId);
      const c = cacheFor(run.dir, run.rows);
      const a = c.arrays;
      const t0 = performance.now();
      let job = c.layouts.get(method);
      if (!job) {
        let last = 0;
        job =
          method === 'pca'
            ? Promise.resolve(pcaLayout(a.emb, a.n, a.d, a.protos, a.k))
            : umapLayout(a.emb, a.n, a.d, a.protos, a.k, {
                onProgress: (phase, done, total) => {
                  const now = Date.now();
                  if (now - last < 100 && done < total) return;
                  last = now;
                  ctx.emit({ type: 'insights.progress', projectId, runId: run.id, phase, done, total });
                },
              });
        c.layouts.set(method, job);
        job.catch(() => c.layouts.delete(method));
      }
      const layout = await job;
      if (!layout) throw new ApiError('CONFLICT', 'layout was cancelled');
      const t = p.table;
      const n = Math.min(a.n, t.n);
      const classes = runClasses(run.dir) ?? p.scan.classes;
      const protoLabels =
        a.k === classes.length ? classes : Array.from({ length: a.k }, (_, i) => classes[i] ?? `prototype ${i}`);
      const res: EmbeddingMap = {
        runId: run.id,
        method,
        n,
        points: Array.from(layout.points.subarray(0, n * 2), round),
        labels: [...t.labels],
        given: Array.from(t.given.subarray(0, n)),
        corrected: Array.from(t.suggested.subarray(0, n)),
        status: Array.from(t.status.subarray(0, n)),
        prototypes: protoLabels.map((label, i) => ({
          label,
          x: round(layout.prototypes[i * 2]),
          y: round(layout.prototypes[i * 2 + 1]),
        })),
        seconds: round((performance.now() - t0) / 1000),
      };
      return res;
    },

    'insights.classHealth': async ({ projectId, runId }) => {
      const p = await ctx.project(projectId);
      if (!runId || runId === p.activeRun?.id) {
        if (!p.activeRun)
          throw new ApiError('NOT_FOUND', `project ${projectId} has no finished run yet: train one first`);
        return { runId: p.activeRun.id, ...healthOf(p.table, runClasses(p.activeRun.dir) ?? p.scan.classes) };
      }
      const dir = p.runDir(runId);
      if (!dir) throw new ApiError('NOT_FOUND', `no run "${runId}" in project ${projectId}`);
      const classes = runClasses(dir) ?? p.scan.classes;
      return { runId, ...healthOf(buildTable(readSamples(dir), classes), classes) };
    },

    'insights.duplicates': async ({ projectId, threshold, maxPairs, maxHamming, maxPixelDiff }) => {
      const { p, run } = await active(projectId);
      const c = cacheFor(run.dir, run.rows);
      const key = `${threshold}:${maxPairs}:${maxHamming ?? '-'}:${maxPixelDiff ?? '-'}`;
      const cached = c.duplicates.get(key);
      if (cached) return cached;
      const t0 = performance.now();
      const a = c.arrays;
      // With the image check, look at more embedding candidates: some will be look-alikes only.
      const verify = maxHamming !== undefined;
      const found = await findDuplicatesAsync(a.emb, a.n, a.d, {
        threshold,
        maxPairs: verify ? Math.min(20_000, maxPairs * 8) : maxPairs,
      });
      const t = p.table;
      const side = (id: number) => ({ id, path: t.paths[id], given: t.labels[t.given[id]] });
      const live = found.pairs.filter((q) => q.b < t.n && t.present[q.a] && t.present[q.b]);
      const pairs: Duplicates['pairs'] = [];
      let truncated = false;
      for (const q of live) {
        if (pairs.length >= maxPairs) break;
        let hamming: number | null = null;
        if (verify) {
          if (performance.now() - t0 > HASH_BUDGET_MS) {
            truncated = true;
            break;
          }
          const [ha, hb] = await Promise.all([
            hashes.get(path.join(p.root, ...t.paths[q.a].split('/'))),
            hashes.get(path.join(p.root, ...t.paths[q.b].split('/'))),
          ]);
          if (ha === null || hb === null) continue; // unreadable image: cannot say it is the same picture
          hamming = hammingDistance(ha, hb);
          if (hamming > maxHamming) continue;
        }
        let pd: number | null = null;
        if (verify && maxPixelDiff !== undefined) {
          const [ga, gb] = await Promise.all([
            hashes.grey(path.join(p.root, ...t.paths[q.a].split('/'))),
            hashes.grey(path.join(p.root, ...t.paths[q.b].split('/'))),
          ]);
          if (ga === null || gb === null) continue;
          pd = pixelDiff(ga, gb);
          if (pd > maxPixelDiff) continue;
        }
        pairs.push({
          a: side(q.a),
          b: side(q.b),
          cosine: round(q.cosine),
          sameClass: t.given[q.a] === t.given[q.b],
          hamming,
          pixelDiff: pd === null ? null : round(pd),
        });
      }
      const res: Duplicates = {
        runId: run.id,
        threshold,
        exact: found.exact,
        maxHamming: maxHamming ?? null,
        maxPixelDiff: verify ? (maxPixelDiff ?? null) : null,
        candidates: live.length,
        truncated,
        pairs,
        seconds: round((performance.now() - t0) / 1000),
      };
      c.duplicates.set(key, res);
      return res;
    },

    'insights.compareRuns': async ({ projectId, runA, runB }) => {
      const p = await ctx.project(projectId);
      const one = (runId: string) => {
        const dir = p.runDir(runId);
        if (!dir) throw new ApiError('NOT_FOUND', `no run "${runId}" in project ${projectId}`);
        const classes = runClasses(dir) ?? p.scan.classes;
        let health = null;
        try {
          health = healthOf(buildTable(readSamples(dir), classes), classes).classes;
        } catch {
          /* unfinished run: curves only */
        }
        return { summary: runSummary(dir, runId, p.live.get(runId)), epochs: runEpochs(readRunJson(dir)), health };
      };
      const a = one(runA),
        b = one(runB);
      return { a, b, deltas: classDeltas(a.health ?? [], b.health ?? []) };
    },
  };
}
