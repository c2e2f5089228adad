import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDisjointFolder, disjointPlan, filesUnder } from './disjoint-folder';

const cands = Array.from({ length: 25 }, (_, i) => ({ file: `/src/c${i % 3}/${i}.png`, hash: `h${i}` }));

describe('disjointPlan', () => {
  it('drops exactly the excluded hashes and keeps every other candidate once', () => {
    const p = disjointPlan(cands, new Set(['h3', 'h7', 'nothing']), 1);
    expect(p.removed).toBe(2);
    const kept = p.copies.map((c) => c.file).sort();
    expect(kept).toEqual(
      cands
        .filter((c) => c.hash !== 'h3' && c.hash !== 'h7')
        .map((c) => c.file)
        .sort(),
    );
    expect(new Set(p.copies.map((c) => c.dest)).size).toBe(23);
  });

  it('spreads the images over the folders by a seeded shuffle, independent of the input order', () => {
    const a = disjointPlan(cands, new Set(), 5, 10),
      b = disjointPlan([...cands].reverse(), new Set(), 5, 10),
      c = disjointPlan(cands, new Set(), 6, 10);
    expect(a).toEqual(b);
    expect(a.copies.map((x) => x.file)).not.toEqual(c.copies.map((x) => x.file));
    const groups = new Map<string, number>();
    for (const x of a.copies) groups.set(path.dirname(x.dest), (groups.get(path.dirname(x.dest)) ?? 0) + 1);
    expect(groups.size).toBe(10);
    expect(Math.max(...groups.values()) - Math.min(...groups.values())).toBeLessThanOrEqual(1);
    // the source folder (class) does not decide the destination folder
    const fromC0 = a.copies.filter((x) => x.file.includes('/c0/')).map((x) => path.dirname(x.dest));
    expect(new Set(fromC0).size).toBeGreaterThan(1);
  });
});

describe('buildDisjointFolder', () => {
  it('leaves out files byte-identical to an excluded folder', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'disjoint-'));
    try {
      const put = (rel: string, body: string) => {
        fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
        fs.writeFileSync(path.join(tmp, rel), body);
      };
      for (let i = 0; i < 12; i++) put(`src/k${i % 2}/${i}.png`, `img${i}`);
      put('case/a/x.png', 'img4');
      put('test/b/y.png', 'img9');
      put('test/b/z.png', 'other');
      const r = buildDisjointFolder({
        source: path.join(tmp, 'src'),
        exclude: [path.join(tmp, 'case'), path.join(tmp, 'test')],
        out: path.join(tmp, 'out'),
        seed: 3,
        folders: 4,
      });
      expect(r).toEqual({ candidates: 12, removed: 2, kept: 10 });
      const bodies = filesUnder(path.join(tmp, 'out')).map((f) => fs.readFileSync(f, 'utf8'));
      expect(bodies.sort()).toEqual(
        Array.from({ length: 12 }, (_, i) => `img${i}`)
          .filter((b) => b !== 'img4' && b !== 'img9')
          .sort(),
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
