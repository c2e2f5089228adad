// CSV for every file we write (samples.csv, labels.csv, predictions CSVs) and read back.
//
// Quoting (RFC 4180): a cell is quoted when it holds a comma, a double quote, LF or a bare CR
// (csv-stringify leaves a bare CR unquoted, which a strict reader splits into an extra row).
//
// Spreadsheet formulas (OWASP "CSV injection"): file and class names come from the user's disk,
// often scraped from the web, and a spreadsheet evaluates a cell that starts with = + - @ TAB or
// CR. Such a text cell is written as ' + the text, quoted, so a spreadsheet shows it as text. A
// cell that starts with ' gets one more ' the same way, which makes the escape reversible: our
// reader strips one leading ' from a cell whose next character is one of = + - @ TAB CR '.
// A cell that is a plain decimal number (e.g. "-0.250000") is never escaped: it is a number,
// not a formula, and numeric columns stay numbers. Ordinary names are written unchanged, so
// other tools (the shared bench evaluator, pandas) read them as before; only a name that starts
// with one of those characters reads back with the leading ' there.
import { parse } from 'csv-parse/sync';

/** Leading characters a spreadsheet may evaluate, plus ' so the escape can be undone. */
const NEEDS_ESCAPE = /^[=+\-@\t\r']/;
/** What our reader undoes: a ' we added in front of one of the characters above. */
const ESCAPED = /^'[=+\-@\t\r']/;
const NUMBER = /^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|Infinity)$/;
const NEEDS_QUOTES = /[",\r\n]/;

/** One cell as written: escaped when a spreadsheet could evaluate it, quoted when RFC 4180 needs it. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : String(v);
  let quote = NEEDS_QUOTES.test(s);
  if (NEEDS_ESCAPE.test(s) && !NUMBER.test(s)) {
    s = `'${s}`;
    quote = true;
  }
  return quote ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Undoes csvCell's formula escape. */
export function unescapeCell(v: string): string {
  return ESCAPED.test(v) ? v.slice(1) : v;
}

export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  let out = header.map(csvCell).join(',') + '\n';
  for (const r of rows) out += r.map(csvCell).join(',') + '\n';
  return out;
}

/** Parses a CSV with a header row into objects; throws naming `file` when the header lacks a column. */
export function parseCsv(text: string, required: readonly string[] = [], file = 'CSV'): Record<string, string>[] {
  const rows = parse(text, { columns: true, skip_empty_lines: true, bom: true, relax_column_count: false }) as Record<
    string,
    string
  >[];
  // A per-cell `cast` makes csv-parse several times slower; only a file with a ' can hold an escape.
  if (text.includes("'")) {
    for (const r of rows) for (const k in r) if (r[k].charCodeAt(0) === 39) r[k] = unescapeCell(r[k]);
  }
  if (rows.length) {
    for (const c of required) if (!(c in rows[0])) throw new Error(`${file}: missing column "${c}"`);
  }
  return rows;
}
