// Safe CSV: strict RFC 4180 quoting (bare CR too), spreadsheet formulas escaped (OWASP CSV
// injection), and every file we write reads back with the original names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { csvCell, parseCsv, toCsv } from '../util/csv';
import { writeRun, rng } from '../../tests/fixtures/project';
import { readSamples } from './runs';
import { exportDataset } from './export';

// The shared bench evaluator's own parser (plain RFC 4180): the bench reads our files with it. It lives
// outside the repository; where it is absent the checks that need it are skipped and say so.
const BENCH = path.resolve(import.meta.dirname, '../../../shared/bench/evaluate.mjs');
const benchParse: ((text: string) => Record<string, string>[]) | null = fs.existsSync(BENCH)
  ? (await import(BENCH)).parseCsv
  : null;
if (!benchParse) console.warn(`csv-safe: ${BENCH} not found: the shared-evaluator checks are SKIPPED (not passed)`);

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-csv-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Names a web scrape produces, each of which a spreadsheet would evaluate or a lax writer would break. */
const DANGEROUS = [
  '=HYPERLINK("http://x","y")',
  '+1+1',
  "-2+3+cmd|' /C calc'!A0",
  '@SUM(A1:A2)',
  '\tx.png',
  '\rx.png',
  "'already quoted.png",
  "'",
  "''",
  "'=1+1",
  '-',
  '=',
  '@',
];
const ORDINARY = [
  'cat/1.png',
  'a b/c d.jpg',
  'x,y/z.png',
  'q"q/1.png',
  'ünï/猫.png',
  'T-shirt/1-2.png',
  '1.5',
  'a=b',
  "it's.png",
];

describe('safe CSV writer', () => {
  it('quotes a bare CR, so a strict reader sees no extra row (old writer: unquoted)', () => {
    const text = toCsv(
      ['path', 'label'],
      [
        ['a\rb.png', 'x'],
        ['c.png', 'y'],
      ],
    );
    expect(text).toBe('path,label\n"a\rb.png",x\nc.png,y\n');
    expect(parseCsv(text).map((r) => r.path)).toEqual(['a\rb.png', 'c.png']);
    if (benchParse) expect(benchParse(text).map((r) => r.path)).toEqual(['a\rb.png', 'c.png']);
  });

  it("escapes every cell a spreadsheet would evaluate: leading = + - @ TAB CR (and ' so it is reversible)", () => {
    for (const name of DANGEROUS) {
      const cell = csvCell(name);
      expect(cell.startsWith('"\''), `${JSON.stringify(name)} -> ${cell}`).toBe(true);
      // What a spreadsheet sees after RFC 4180 unquoting starts with ', i.e. plain text.
      const unquoted = cell.slice(1, -1).replace(/""/g, '"');
      expect(unquoted).toBe(`'${name}`);
      if (benchParse) expect(benchParse(`h\n${cell}\n`)[0].h).toBe(`'${name}`);
    }
  });

  it('leaves numbers (negative too) and ordinary names unchanged', () => {
    for (const n of ['-0.250000', '0.5', '+3', '-1e-7', '-12', '.5', '-Infinity']) expect(csvCell(n)).toBe(n);
    expect(csvCell(-0.25)).toBe('-0.25');
    expect(csvCell(null)).toBe('');
    for (const n of ORDINARY) expect(csvCell(n).replace(/^"|"$/g, '').replace(/""/g, '"')).toBe(n);
  });

  it('round-trips dangerous, ordinary and random names through our reader', () => {
    const r = rng(7);
    const alphabet = ['=', '+', '-', '@', '\t', '\r', '\n', "'", '"', ',', ' ', 'a', '1', '.', 'é'];
    const random = Array.from({ length: 400 }, () =>
      Array.from({ length: 1 + Math.floor(r() * 6) }, () => alphabet[Math.floor(r() * alphabet.length)]).join(''),
    );
    const names = [...DANGEROUS, ...ORDINARY, ...random];
    const text = toCsv(
      ['path', 'label', 'score'],
      names.map((n, i) => [n, `${n}!`, -(i + 1) / 7]),
    );
    const back = parseCsv(text, ['path', 'label', 'score']);
    expect(back.map((x) => x.path)).toEqual(names);
    expect(back.map((x) => x.label)).toEqual(names.map((n) => `${n}!`));
    expect(back.map((x) => Number(x.score))).toEqual(names.map((_, i) => -(i + 1) / 7));
  });

  it.skipIf(!benchParse)(
    "the shared bench evaluator reads ordinary names unchanged and dangerous ones as text (leading ')",
    () => {
      const names = [...ORDINARY, ...DANGEROUS];
      const text = toCsv(
        ['path', 'predicted_label'],
        names.map((n) => [n, 'c']),
      );
      const rows = benchParse!(text);
      expect(rows).toHaveLength(names.length);
      expect(rows.map((x) => x.path)).toEqual(names.map((n) => (/^[=+\-@\t\r']/.test(n) ? `'${n}` : n)));
    },
  );
});

describe('files we write read back with the original names', () => {
  const classes = ['=cmd', '+plus', '-minus', '@at', "'quote", 'plain'];
  const files = classes.flatMap((c, k) =>
    [`${c}/=1+1.png`, `${c}/a\rb ${k}.png`, `${c}/ok ${k}.png`].map((rel) => ({ rel, label: c })),
  );

  it('samples.csv (run folder) round-trips paths and labels; numbers stay numbers', () => {
    const dir = tmp();
    writeRun(
      dir,
      '/nowhere',
      classes,
      files.map((f, i) => ({
        path: f.rel,
        given: f.label,
        corrected: classes[(i + 1) % classes.length],
        status: 'relabeled' as const,
        confidence: 0.5,
        ood: -0.25,
      })),
    );
    const text = fs.readFileSync(path.join(dir, 'samples.csv'), 'utf8');
    expect(text).not.toMatch(/(^|,)[=+@-][^0-9]/m); // no bare formula cell anywhere
    const rows = readSamples(dir);
    expect(rows.map((x) => x.path)).toEqual(files.map((f) => f.rel));
    expect(rows.map((x) => x.given)).toEqual(files.map((f) => f.label));
    expect(rows.map((x) => x.suggested)).toEqual(files.map((_, i) => classes[(i + 1) % classes.length]));
    expect(rows.every((x) => x.oodScore === -0.25)).toBe(true);
    expect(text).toContain(',-0.25\n');
  });

  it('labels.csv (export manifest) round-trips paths and labels', async () => {
    const root = tmp();
    const to = path.join(tmp(), 'out');
    const rows = files.map((f) => ({
      rel: f.rel,
      abs: path.join(root, f.rel),
      given: f.label,
      finalLabel: `-${f.label}`,
      source: 'model',
    }));
    const r = await exportDataset({ rows, datasetRoot: root, to, mode: 'manifest', includeOod: false });
    const back = parseCsv(fs.readFileSync(r.manifest, 'utf8'), ['path', 'original_label', 'final_label']);
    expect(back.map((x) => x.path)).toEqual(files.map((f) => f.rel));
    expect(back.map((x) => x.original_label)).toEqual(files.map((f) => f.label));
    expect(back.map((x) => x.final_label)).toEqual(files.map((f) => `-${f.label}`));
    for (const line of fs.readFileSync(r.manifest, 'utf8').split('\n').slice(1))
      expect(line).not.toMatch(/(^|,)[=+@-]/);
  });
});
