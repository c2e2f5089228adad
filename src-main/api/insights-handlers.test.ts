// The insights.* handlers on a generated project (two runs, a planted cross-class duplicate).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent } from '../../src-shared/contract';
import { Project } from '../project/project';
import { EMBEDDINGS_F32 } from '../../src-shared/run-format';
import { makeInsightsFixture, type InsightsFixture } from '../../tests/fixtures/insights';
import { insightsHandlers } from './insights-handlers';

let tmp: string;
let fx: InsightsFixture;
let project: Project;
const events: ApiEvent[] = [];
let h: ReturnType<typeof insightsHandlers>;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-insights-'));
  fx = await makeInsightsFixture(tmp, { perClass: 30 });
  project = await Project.open(fx.root, fx.dataDir);
  h = insightsHandlers({
    project: async (id) => {
      if (id !== project.id) throw new Error('no such project');
      return project;
    },
    emit: (e) => events.push(e),
  });
});
afterAll(() => {
  project?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('insights handlers', () => {
  it('opens the newest run (mopro) as active', () => {
    expect(project.activeRun?.id).toBe(fx.runs.mopro);
    expect(project.table.n).toBe(fx.n);
  });

  it('embedding: PCA gives one point per sample and one prototype per class', async () => {
    const m = await h['insights.embedding']({ projectId: fx.projectId, method: 'pca' });
    expect(m.n).toBe(fx.n);
    expect(m.points.length).toBe(fx.n * 2);
    expect(m.given.length).toBe(fx.n);
    expect(m.prototypes.map((p) => p.label)).toEqual(fx.classes);
    expect(m.points.every(Number.isFinite)).toBe(true);
  });

  it('embedding: UMAP emits progress and lays out every point', async () => {
    events.length = 0;
    const m = await h['insights.embedding']({ projectId: fx.projectId, method: 'umap' });
    expect(m.method).toBe('umap');
    expect(m.points.length).toBe(fx.n * 2);
    const phases = new Set(
      events.filter((e) => e.type === 'insights.progress').map((e) => (e as { phase: string }).phase),
    );
    expect(phases.has('pca')).toBe(true);
    expect(phases.has('fit')).toBe(true);
  });

  it('classHealth matches counts computed from samples.csv', async () => {
    const r = await h['insights.classHealth']({ projectId: fx.projectId });
    expect(r.runId).toBe(fx.runs.mopro);
    expect(r.total).toBe(fx.n);
    const t = project.table;
    for (const c of r.classes) {
      const gi = t.labels.indexOf(c.label);
      let count = 0,
        rel = 0;
      for (let i = 0; i < t.n; i++)
        if (t.given[i] === gi) {
          count++;
          if (t.status[i] === 1) rel++;
        }
      expect(c.count).toBe(count);
      expect(c.relabeled).toBe(rel);
    }
    // Row sums of the confusion matrix are the class counts.
    r.confusion.counts.forEach((row, i) => expect(row.reduce((a, b) => a + b, 0)).toBe(r.classes[i].count));
    // CE run: nothing relabeled, so the matrix is diagonal.
    const ce = await h['insights.classHealth']({ projectId: fx.projectId, runId: fx.runs.ce });
    ce.confusion.counts.forEach((row, i) =>
      row.forEach((v, j) => {
        if (ce.confusion.cols[j] !== ce.confusion.rows[i]) expect(v).toBe(0);
      }),
    );
  });

  it('duplicates: finds the planted cross-class pair and nothing else', async () => {
    const d = await h['insights.duplicates']({ projectId: fx.projectId, threshold: 0.98, maxPairs: 100 });
    expect(d.exact).toBe(true);
    expect(d.pairs.length).toBe(1);
    const p = d.pairs[0];
    expect([p.a.path, p.b.path].sort()).toEqual([fx.dup.a, fx.dup.b].sort());
    expect(p.sameClass).toBe(false);
    expect(p.cosine).toBeGreaterThan(0.999);
  });

  it('duplicates with the image-hash check keep the planted copy (0 bits apart)', async () => {
    const d = await h['insights.duplicates']({
      projectId: fx.projectId,
      threshold: 0.98,
      maxPairs: 100,
      maxHamming: 4,
    });
    expect(d.maxHamming).toBe(4);
    expect(d.pairs.length).toBe(1);
    expect(d.pairs[0].hamming).toBe(0);
  });

  it('compareRuns: curves of both runs and per-class deltas', async () => {
    const c = await h['insights.compareRuns']({ projectId: fx.projectId, runA: fx.runs.ce, runB: fx.runs.mopro });
    expect(c.a.summary.method).toBe('ce');
    expect(c.b.summary.method).toBe('mopro');
    expect(c.a.epochs.length).toBe(6);
    expect(c.deltas.map((x) => x.label)).toEqual(fx.classes);
    for (const x of c.deltas) expect(x.dNoiseRate).toBeCloseTo(x.b!.noiseRate - 0, 9); // CE relabels nothing
  });

  it('a run without embeddings answers NOT_FOUND with the fix', async () => {
    const f = path.join(project.activeRun!.dir, EMBEDDINGS_F32);
    fs.renameSync(f, `${f}.bak`);
    try {
      await expect(h['insights.embedding']({ projectId: fx.projectId, method: 'pca' })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(h['insights.embedding']({ projectId: fx.projectId, method: 'pca' })).rejects.toThrow(
        /train it again/,
      );
    } finally {
      fs.renameSync(`${f}.bak`, f);
    }
  });
});
