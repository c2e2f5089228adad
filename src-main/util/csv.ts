// RFC 4180 CSV through csv-stringify / csv-parse: fields with commas, quotes or newlines are quoted.
import { stringify } from 'csv-stringify/sync';
import { parse } from 'csv-parse/sync';

export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return stringify([header as string[], ...(rows as unknown[][])], { record_delimiter: '\n' });
}

/** Parses a CSV with a header row into objects; throws naming `file` when the header lacks a column. */
export function parseCsv(text: string, required: readonly string[] = [], file = 'CSV'): Record<string, string>[] {
  const rows = parse(text, { columns: true, skip_empty_lines: true, bom: true, relax_column_count: false }) as Record<string, string>[];
  if (rows.length) {
    for (const c of required) if (!(c in rows[0])) throw new Error(`${file}: missing column "${c}"`);
  }
  return rows;
}
