import { describe, expect, it } from 'vitest';
import { classDeltas, classHealth } from './class-health';
import { findDuplicates, findDuplicatesAsync } from './duplicates';
import { mulberry32, nearestRows, pcaLayout, umapLayout } from './layout';
import { fitPca, projectPca, sampleRows } from './pca';

/** n unit vectors in d dims around `centres` clusters (row-major). */
function clustered(
  n: number,
  d: number,
  centres: number,
  seed: number,
  spread = 0.15,
): { emb: Float32Array; label: Int32Array; protos: Float32Array } {
  const r = mulberry32(seed);
  const g = () => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
  const protos = new Float32Array(centres * d);
  for (let c = 0; c < centres; c++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      protos[c * d + j] = g();
      s += protos[c * d + j] ** 2;
    }
    for (let j = 0; j < d; j++) protos[c * d + j] /= Math.sqrt(s);
  }
  const emb = new Float32Array(n * d);
  const label = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % centres;
    label[i] = c;
    let s = 0;
    for (let j = 0; j < d; j++) {
      emb[i * d + j] = protos[c * d + j] + (spread * g()) / Math.sqrt(d);
      s += emb[i * d + j] ** 2;
    }
    for (let j = 0; j < d; j++) emb[i * d + j] /= Math.sqrt(s);
  }
  return { emb, label, protos };
}

describe('PCA', () => {
  it('projects n x d to n x k and finds the axis of largest variance', () => {
    // Points on a line along (1, 1, 0) plus a little noise in z: component 1 must be that line.
    const n = 200,
      d = 3;
    const r = mulberry32(3);
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const t = r() * 10 - 5;
      data[i * 3] = t + 1;
      data[i * 3 + 1] = t - 2;
      data[i * 3 + 2] = (r() - 0.5) * 0.1;
    }
    const basis = fitPca(data, n, d, 2);
    expect(basis.k).toBe(2);
    expect(Math.abs(basis.axes[0])).toBeCloseTo(Math.SQRT1_2, 2);
    expect(Math.abs(basis.axes[1])).toBeCloseTo(Math.SQRT1_2, 2);
    expect(Math.abs(basis.axes[2])).toBeLessThan(0.05);
    expect(basis.explained[0]).toBeGreaterThan(0.99);
    const out = projectPca(basis, data, n);
    expect(out.length).toBe(n * 2);
    // Centred: the projections average to 0; their spread is the line's.
    let mean = 0,
      v = 0;
    for (let i = 0; i < n; i++) mean += out[i * 2] / n;
    for (let i = 0; i < n; i++) v += (out[i * 2] - mean) ** 2 / n;
    expect(Math.abs(mean)).toBeLessThan(1e-3);
    expect(Math.sqrt(v)).toBeGreaterThan(2 * Math.SQRT2); // uniform on [-5,5] * sqrt2 has sd ~4.1
  });

  it('pcaLayout gives n points and k prototypes, separating clusters', () => {
    const { emb, label, protos } = clustered(300, 16, 3, 5);
    const l = pcaLayout(emb, 300, 16, protos, 3);
    expect(l.points.length).toBe(600);
    expect(l.prototypes.length).toBe(6);
    // Every point is nearer its own prototype than any other one in the 2-D map.
    let right = 0;
    for (let i = 0; i < 300; i++) {
      let best = -1,
        bd = Infinity;
      for (let c = 0; c < 3; c++) {
        const dd = (l.points[i * 2] - l.prototypes[c * 2]) ** 2 + (l.points[i * 2 + 1] - l.prototypes[c * 2 + 1]) ** 2;
        if (dd < bd) {
          bd = dd;
          best = c;
        }
      }
      if (best === label[i]) right++;
    }
    expect(right / 300).toBeGreaterThan(0.95);
  });

  it('sampleRows draws distinct sorted rows, the same for the same seed', () => {
    expect(Array.from(sampleRows(5, 10))).toEqual([0, 1, 2, 3, 4]);
    const s = sampleRows(1000, 10);
    expect(s.length).toBe(10);
    expect(new Set(s).size).toBe(10);
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThan(s[i - 1]);
    expect(Array.from(sampleRows(1000, 10))).toEqual(Array.from(s));
    // Period-3 data: a sample of 300 of 900 must not land on one residue class.
    const mod = new Set(Array.from(sampleRows(900, 300), (r) => r % 3));
    expect(mod.size).toBe(3);
  });
});

describe('UMAP layout', () => {
  it('lays out all points (fitted subsample + placed rest) and keeps clusters apart', async () => {
    const n = 900,
      d = 32;
    const { emb, label, protos } = clustered(n, d, 3, 11, 0.3);
    const phases = new Set<string>();
    const l = await umapLayout(emb, n, d, protos, 3, { fitSize: 300, epochs: 80, onProgress: (p) => phases.add(p) });
    expect(l).not.toBeNull();
    expect(l!.points.length).toBe(n * 2);
    expect([...phases]).toEqual(['pca', 'fit', 'place']);
    for (const v of l!.points) expect(Number.isFinite(v)).toBe(true);
    // Nearest-centroid in 2-D recovers the cluster of (almost) every point, placed ones included.
    const cx = [0, 0, 0],
      cy = [0, 0, 0],
      cnt = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      cx[label[i]] += l!.points[i * 2];
      cy[label[i]] += l!.points[i * 2 + 1];
      cnt[label[i]]++;
    }
    let right = 0;
    for (let i = 0; i < n; i++) {
      let best = -1,
        bd = Infinity;
      for (let c = 0; c < 3; c++) {
        const dd = (l!.points[i * 2] - cx[c] / cnt[c]) ** 2 + (l!.points[i * 2 + 1] - cy[c] / cnt[c]) ** 2;
        if (dd < bd) {
          bd = dd;
          best = c;
        }
      }
      if (best === label[i]) right++;
    }
    expect(right / n).toBeGreaterThan(0.95);
  });

  it('nearestRows finds the true nearest neighbours', () => {
    const ref = new Float32Array([0, 0, 10, 0, 0, 10, 10, 10]);
    const q = new Float32Array([9, 2, 1, 8]);
    const idx = new Int32Array(4),
      dist = new Float32Array(4);
    nearestRows(q, 2, ref, 4, 2, 2, idx, dist);
    expect(Array.from(idx)).toEqual([1, 3, 2, 0]);
    expect(dist[0]).toBeCloseTo(5, 4);
  });
});

describe('near duplicates', () => {
  for (const mode of ['exact', 'lsh'] as const) {
    it(`finds a planted pair and no random pair (${mode})`, () => {
      // Random unit vectors in 64-d: cosines of unrelated pairs stay far below 0.95.
      const n = 3000,
        d = 64;
      const r = mulberry32(21);
      const emb = new Float32Array(n * d);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) {
          emb[i * d + j] = r() - 0.5;
          s += emb[i * d + j] ** 2;
        }
        for (let j = 0; j < d; j++) emb[i * d + j] /= Math.sqrt(s);
      }
      // Plant: row 2500 = row 17 plus a tiny perturbation.
      for (let j = 0; j < d; j++) emb[2500 * d + j] = emb[17 * d + j] + (j === 3 ? 0.01 : 0);
      const res = findDuplicates(emb, n, d, { threshold: 0.95, maxExact: mode === 'exact' ? 10_000 : 100 });
      expect(res.exact).toBe(mode === 'exact');
      expect(res.pairs.length).toBe(1);
      expect(res.pairs[0].a).toBe(17);
      expect(res.pairs[0].b).toBe(2500);
      expect(res.pairs[0].cosine).toBeGreaterThan(0.999);
    });
  }

  it('the async search (yielding to the event loop) finds the same pairs', async () => {
    const { emb } = clustered(4000, 32, 5, 9, 0.05); // tight clusters: many pairs above 0.99
    const sync = findDuplicates(emb, 4000, 32, { threshold: 0.99, maxPairs: 300 });
    const async_ = await findDuplicatesAsync(emb, 4000, 32, { threshold: 0.99, maxPairs: 300 });
    expect(sync.pairs.length).toBe(300);
    expect(async_.pairs).toEqual(sync.pairs);
  });

  it('keeps the most similar pairs first and caps the list', () => {
    const d = 4;
    const rows = [
      [1, 0, 0, 0],
      [1, 0.01, 0, 0],
      [1, 0.2, 0, 0],
      [0, 0, 1, 0],
    ];
    const emb = new Float32Array(rows.flat());
    const res = findDuplicates(emb, 4, d, { threshold: 0.9, maxPairs: 2 });
    expect(res.pairs.map((p) => [p.a, p.b])).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(res.pairs[0].cosine).toBeGreaterThan(res.pairs[1].cosine);
  });
});

describe('class health', () => {
  // Hand-made run: labels a, b, c. Status 0 clean, 1 relabeled, 2 ood.
  //  row  given corrected status conf
  //  0    a     a         0      0.9
  //  1    a     b         1      0.5
  //  2    a     -         2      0.1
  //  3    a     a         0      0.7
  //  4    b     b         0      0.8
  //  5    b     a         1      0.6
  //  6    c     c         0      1.0   (not on disk any more: excluded)
  const input = {
    labels: ['a', 'b', 'c'],
    classes: ['a', 'b', 'c'],
    given: [0, 0, 0, 0, 1, 1, 2],
    corrected: [0, 1, -1, 0, 1, 0, 2],
    status: [0, 1, 2, 0, 0, 1, 0],
    confidence: [0.9, 0.5, 0.1, 0.7, 0.8, 0.6, 1.0],
    include: [1, 1, 1, 1, 1, 1, 0],
  };
  it('counts, noise rate, OOD rate and mean confidence per class', () => {
    const h = classHealth(input);
    expect(h.total).toBe(6);
    const [a, b, c] = h.classes;
    expect(a).toMatchObject({ label: 'a', count: 4, relabeled: 1, ood: 1, noiseRate: 0.25, oodRate: 0.25 });
    expect(a.meanConfidence).toBeCloseTo((0.9 + 0.5 + 0.1 + 0.7) / 4, 6);
    expect(b).toMatchObject({ label: 'b', count: 2, relabeled: 1, ood: 0, noiseRate: 0.5, oodRate: 0 });
    expect(b.meanConfidence).toBeCloseTo(0.7, 6);
    expect(c).toMatchObject({ label: 'c', count: 0, noiseRate: 0, meanConfidence: 0 });
  });
  it('builds the given -> corrected confusion matrix with an OOD column', () => {
    const { confusion } = classHealth(input);
    expect(confusion.rows).toEqual(['a', 'b', 'c']);
    expect(confusion.cols).toEqual(['a', 'b', 'c', null]);
    expect(confusion.counts).toEqual([
      [2, 1, 0, 1],
      [1, 1, 0, 0],
      [0, 0, 0, 0],
    ]);
  });
  it('class deltas between two runs', () => {
    const h1 = classHealth(input).classes;
    const h2 = classHealth({ ...input, status: [0, 0, 0, 0, 0, 1, 0], corrected: [0, 0, 0, 0, 1, 0, 2] }).classes;
    const d = classDeltas(h1, h2);
    expect(d.map((x) => x.label)).toEqual(['a', 'b', 'c']);
    expect(d[0].dNoiseRate).toBeCloseTo(-0.25, 6);
    expect(d[0].dOodRate).toBeCloseTo(-0.25, 6);
    expect(d[1].dNoiseRate).toBeCloseTo(0, 6);
  });
});

describe('PivotIndex', () => {
  it('finds (nearly) the exact nearest neighbours on clustered data', async () => {
    const { PivotIndex } = await import('./layout');
    const m = 1500,
      q = 400,
      dim = 16;
    const { emb } = clustered(m + q, dim, 6, 33, 0.5);
    const ref = emb.subarray(0, m * dim),
      query = emb.slice(m * dim);
    const kk = 5;
    const ei = new Int32Array(q * kk),
      ed = new Float32Array(q * kk),
      ai = new Int32Array(q * kk),
      ad = new Float32Array(q * kk);
    nearestRows(query, q, ref, m, dim, kk, ei, ed);
    new PivotIndex(ref, m, dim).search(query, q, kk, ai, ad);
    // Top-1 is the true nearest for most queries, and within 25% (squared distance) for almost all.
    let same = 0,
      close = 0;
    for (let i = 0; i < q; i++) {
      if (ai[i * kk] === ei[i * kk]) same++;
      if (ad[i * kk] <= ed[i * kk] * 1.25) close++;
    }
    expect(same / q).toBeGreaterThan(0.8);
    expect(close / q).toBeGreaterThan(0.97);
    // Never better than exact (it only looks at a subset).
    for (let i = 0; i < q * kk; i++) expect(ad[i]).toBeGreaterThanOrEqual(ed[i] - 1e-5);
  });
});
