import { describe, expect, it } from 'vitest';
import { parseCsv, toCsv } from './csv';

describe('csv', () => {
  it('quotes commas, quotes, newlines and keeps non-ASCII (RFC 4180)', () => {
    const nasty = ['a,b/c "q".png', 'line\nbreak.jpg', 'ünï çødé 猫.png', ' spaced name.jpg'];
    const text = toCsv(
      ['path', 'label'],
      nasty.map((p) => [p, 'x']),
    );
    expect(text.split('\n')[1]).toBe('"a,b/c ""q"".png",x');
    const back = parseCsv(text, ['path', 'label']);
    expect(back.map((r) => r.path)).toEqual(nasty);
  });
  it('names the file when a column is missing', () => {
    expect(() => parseCsv('a,b\n1,2\n', ['path'], 'samples.csv')).toThrow(/samples.csv: missing column "path"/);
  });
});
