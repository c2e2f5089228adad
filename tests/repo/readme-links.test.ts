// Every relative link in the Markdown files at the repository root points at a file the repository
// has (a fresh clone has no test-results/ or bench-data/, so those must not be linked).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
const docs = fs.readdirSync(root).filter((f) => f.endsWith('.md'));

describe('README links', () => {
  for (const doc of docs) {
    it(`${doc}: relative links resolve inside the repository`, () => {
      const text = fs.readFileSync(path.join(root, doc), 'utf8');
      const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:|^#/.test(t));
      const missing = targets.filter((t) => !fs.existsSync(path.join(root, decodeURIComponent(t.split('#')[0]))));
      const generated = targets.filter((t) => /^(test-results|bench-data|out|node_modules)\//.test(t));
      expect(missing, `${doc} links files that do not exist`).toEqual([]);
      expect(generated, `${doc} links generated files a fresh clone lacks`).toEqual([]);
    });
  }
});
