import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from './journal';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-journal-'));
  dirs.push(d);
  return path.join(d, 'journal.jsonl');
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('decision journal', () => {
  it('replays every decision after reopening', () => {
    const f = tmp();
    const j = Journal.open(f);
    j.apply(['a/1.png', 'a/2.png'], { kind: 'accept' });
    j.apply(['a/2.png'], { kind: 'override', label: 'b' });
    j.apply(['a/3.png'], { kind: 'ood' });
    j.apply(['a/1.png'], { kind: 'restore' });
    j.close();
    const k = Journal.open(f);
    expect(Object.fromEntries(k.decisions)).toEqual({
      'a/2.png': { kind: 'override', label: 'b' },
      'a/3.png': { kind: 'ood' },
    });
    expect(k.historyOf('a/2.png').map((h) => h.action.kind)).toEqual(['accept', 'override']);
    expect(fs.readFileSync(f, 'utf8').trim().split('\n')).toHaveLength(4);
    k.close();
  });

  it('ignores a torn last line and keeps every complete one; later appends stay readable', () => {
    const f = tmp();
    const j = Journal.open(f);
    for (let i = 0; i < 5; i++) j.apply([`c/${i}.png`], { kind: 'keep' });
    j.close();
    fs.appendFileSync(f, '{"seq":6,"at":"2026-01-01T00:00:00Z","op":"apply","paths":["c/5.p'); // crash mid-write
    const k = Journal.open(f);
    expect(k.warnings.join()).toMatch(/incomplete last line/);
    expect([...k.decisions.keys()].sort()).toEqual(['c/0.png', 'c/1.png', 'c/2.png', 'c/3.png', 'c/4.png']);
    k.apply(['c/9.png'], { kind: 'ood' });
    k.close();
    const m = Journal.open(f);
    expect(m.warnings).toEqual([]);
    expect(m.get('c/9.png')).toEqual({ kind: 'ood' });
    expect(m.decisions.size).toBe(6);
    m.close();
  });

  it('skips a corrupt middle line with a warning', () => {
    const f = tmp();
    const j = Journal.open(f);
    j.apply(['x.png'], { kind: 'keep' });
    j.close();
    fs.appendFileSync(f, 'garbage\n');
    const k = Journal.open(f);
    k.apply(['y.png'], { kind: 'ood' });
    k.close();
    const m = Journal.open(f);
    expect(m.warnings.some((w) => w.includes(':2:'))).toBe(true);
    expect(m.decisions.size).toBe(2);
    m.close();
  });

  it("undo puts back each path's previous decision, redo re-applies; a new batch clears redo; all survive replay", () => {
    const f = tmp();
    const j = Journal.open(f);
    j.apply(['p1', 'p2'], { kind: 'accept' });
    j.apply(['p2', 'p3'], { kind: 'override', label: 'z' });
    expect(j.undo().sort()).toEqual(['p2', 'p3']);
    expect(j.get('p2')).toEqual({ kind: 'accept' });
    expect(j.get('p3')).toBeNull();
    expect(j.canRedo).toBe(true);
    expect(j.redo()).toHaveLength(2);
    expect(j.get('p3')).toEqual({ kind: 'override', label: 'z' });
    j.undo();
    j.undo();
    expect(j.decisions.size).toBe(0);
    expect(j.canUndo).toBe(false);
    expect(j.undo()).toEqual([]);
    j.redo(); // p1,p2 accept again
    j.apply(['p4'], { kind: 'ood' });
    expect(j.canRedo).toBe(false); // the undone override batch is gone for good
    const snapshot = Object.fromEntries(j.decisions);
    j.close();
    const k = Journal.open(f);
    expect(Object.fromEntries(k.decisions)).toEqual(snapshot);
    expect(k.canUndo).toBe(true);
    expect(k.canRedo).toBe(false);
    expect(k.undo()).toEqual(['p4']);
    expect(k.undo().sort()).toEqual(['p1', 'p2']);
    expect(k.decisions.size).toBe(0);
    k.close();
  });

  it('is durable in well under 50 ms per decision (fsync included)', () => {
    const f = tmp();
    const j = Journal.open(f);
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      j.apply([`d/${i}.png`], { kind: 'accept' });
      times.push(performance.now() - t);
    }
    j.close();
    times.sort((a, b) => a - b);
    const p95 = times[Math.floor(times.length * 0.95)];
    console.log(`journal apply+fsync: median ${times[25].toFixed(2)} ms, p95 ${p95.toFixed(2)} ms`);
    expect(p95).toBeLessThan(50);
  });
});
