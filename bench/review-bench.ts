// Review workspace performance on a synthetic 100k-sample project (targets of the review workspace):
//   open < 2 s (API side of "first grid paint"), filter/sort change < 150 ms,
//   decision durable < 50 ms after the request, bulk accept of 10,000 < 1 s, main-process RSS < 1 GB.
// Run: npx tsx bench/review-bench.ts [--n 100000]
// The run folder (samples.csv + arrays/q.f32) is real; the dataset scan is synthesised (100k files
// on disk would measure the file system, not us). Decisions go through the real HTTP server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../src-main/server/server';
import { listScanner, rng, syntheticRows, writeProjectRun } from '../tests/fixtures/project';
import { projectIdFor } from '../src-main/project/project';

const argN = process.argv.indexOf('--n');
const N = argN > 0 ? Number(process.argv[argN + 1]) : 100_000;
const K = 10;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-review-bench-'));
const root = path.join(base, 'dataset');
const dataDir = path.join(base, 'data');
const classes = Array.from({ length: K }, (_, i) => `class_${i}`);
const r = rng(7);
const files = Array.from({ length: N }, (_, i) => {
  const label = classes[Math.floor(r() * K)];
  return { rel: `${label}/web_${String(Math.floor(r() * 1e9)).padStart(9, '0')}_${i}.jpg`, label };
});
// The engine writes samples.csv in the scan's order (code-point order of paths); do the same.
files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
fs.mkdirSync(root, { recursive: true });
const tGen = performance.now();
writeProjectRun(dataDir, projectIdFor(root), 'bench-run', root, classes, syntheticRows(files, classes, 3));
const genMs = performance.now() - tGen;

const rows: [string, string, string][] = [];
const ms = (x: number) => `${x.toFixed(1)} ms`;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

const srv = await startServer({
  dataDir,
  cacheDir: path.join(base, 'cache'),
  scanner: listScanner(root, classes, files),
});
const call = async (method: string, input: unknown): Promise<unknown> => {
  const res = await fetch(`${srv.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mopro-token': srv.token },
    body: JSON.stringify(input),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(body)}`);
  return body;
};

try {
  let t = performance.now();
  const prj = (await call('projects.open', { path: root })) as { id: string; imageCount: number };
  if (process.env.VERBOSE) console.log(`projects.open alone: ${ms(performance.now() - t)}`);
  const first = (await call('samples.query', { projectId: prj.id, limit: 200 })) as { total: number };
  const openMs = performance.now() - t;
  if (first.total !== N) throw new Error(`expected ${N} rows, got ${first.total}`);
  rows.push(['open project + first page (200 rows), over HTTP', ms(openMs), openMs < 2000 ? 'ok (< 2 s)' : 'OVER 2 s']);

  await new Promise((res) => setTimeout(res, 300)); // a person takes longer than this to pick a filter
  const changes = [
    [{ view: 'suggestions' }, { key: 'confidence', dir: 'asc' }],
    [{ view: 'ood' }, { key: 'oodScore', dir: 'desc' }],
    [
      { view: 'all', given: 'class_3' },
      { key: 'path', dir: 'asc' },
    ],
    [
      { view: 'relabeled', minConfidence: 0.5 },
      { key: 'suggested', dir: 'desc' },
    ],
    [
      { view: 'unreviewed', search: 'web_00' },
      { key: 'given', dir: 'asc' },
    ],
    [{ view: 'all' }, { key: 'oodScore', dir: 'asc' }],
    [
      { view: 'clean', minOod: 0.2, maxOod: 0.8 },
      { key: 'confidence', dir: 'desc' },
    ],
    [{ view: 'all' }, { key: 'path', dir: 'desc' }],
  ];
  const fs1: number[] = [];
  for (const [filter, sort] of changes) {
    t = performance.now();
    await call('samples.query', { projectId: prj.id, filter, sort, limit: 200 });
    fs1.push(performance.now() - t);
    if (process.env.VERBOSE) console.log(JSON.stringify(filter), JSON.stringify(sort), ms(fs1.at(-1)!));
  }
  rows.push([
    'filter or sort change (new result + page), over HTTP',
    `max ${ms(Math.max(...fs1))}, median ${ms(pct(fs1, 0.5))}`,
    Math.max(...fs1) < 150 ? 'ok (< 150 ms)' : 'OVER 150 ms',
  ]);

  t = performance.now();
  for (let off = 0; off < 20_000; off += 200)
    await call('samples.query', {
      projectId: prj.id,
      filter: { view: 'suggestions' },
      sort: { key: 'confidence', dir: 'asc' },
      offset: off,
      limit: 200,
    });
  rows.push([
    'scroll paging (100 pages of 200 from a cached result)',
    `${ms((performance.now() - t) / 100)} per page`,
    '',
  ]);

  const lat: number[] = [];
  for (let i = 0; i < 200; i++) {
    t = performance.now();
    await call('decisions.apply', {
      projectId: prj.id,
      ids: [Math.floor(r() * N)],
      action: { kind: i % 3 ? 'accept' : 'keep' },
    });
    lat.push(performance.now() - t);
  }
  rows.push([
    'decision durable (HTTP request -> fsync -> 200)',
    `p50 ${ms(pct(lat, 0.5))}, p95 ${ms(pct(lat, 0.95))}, max ${ms(Math.max(...lat))}`,
    pct(lat, 0.95) < 50 ? 'ok (< 50 ms)' : 'OVER 50 ms',
  ]);

  const ids = (
    (await call('samples.ids', { projectId: prj.id, filter: { view: 'suggestions' } })) as { ids: number[] }
  ).ids.slice(0, 10_000);
  t = performance.now();
  const bulk = (await call('decisions.apply', { projectId: prj.id, ids, action: { kind: 'accept' } })) as {
    applied: number;
  };
  const bulkMs = performance.now() - t;
  rows.push([
    `bulk accept of ${bulk.applied} selected (HTTP, fsync)`,
    ms(bulkMs),
    bulkMs < 1000 ? 'ok (< 1 s)' : 'OVER 1 s',
  ]);
  t = performance.now();
  await call('samples.query', { projectId: prj.id, filter: { view: 'unreviewed' }, limit: 200 });
  rows.push(['grid refresh after the bulk accept (unreviewed view)', ms(performance.now() - t), '']);
  t = performance.now();
  await call('decisions.undo', { projectId: prj.id });
  rows.push(['undo of that bulk accept', ms(performance.now() - t), '']);

  const journal = path.join(dataDir, 'projects', prj.id, 'journal.jsonl');
  t = performance.now();
  await srv.close();
  const srv2 = await startServer({
    dataDir,
    cacheDir: path.join(base, 'cache'),
    scanner: listScanner(root, classes, files),
  });
  const reopened = (await fetch(`${srv2.origin}/api/projects.open`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mopro-token': srv2.token },
    body: JSON.stringify({ path: root }),
  }).then((x) => x.json())) as { reviewed: number };
  rows.push([
    `reopen with journal replay (${(fs.statSync(journal).size / 1024).toFixed(0)} KiB, ${reopened.reviewed} reviewed)`,
    ms(performance.now() - t),
    '',
  ]);
  await srv2.close();

  const rss = process.memoryUsage().rss / 2 ** 20;
  rows.push(['main-process RSS at the end', `${rss.toFixed(0)} MiB`, rss < 1024 ? 'ok (< 1 GB)' : 'OVER 1 GB']);
  rows.push(['(setup) write synthetic run folder', ms(genMs), '']);
} finally {
  await srv.close().catch(() => {});
  fs.rmSync(base, { recursive: true, force: true });
}

const w0 = Math.max(...rows.map((x) => x[0].length)),
  w1 = Math.max(...rows.map((x) => x[1].length));
console.log(
  `\nReview workspace benchmark: ${N.toLocaleString('en')} samples, ${K} classes; node ${process.version}, ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}`,
);
console.log(`${'measure'.padEnd(w0)} | ${'result'.padEnd(w1)} | target`);
console.log(`${'-'.repeat(w0)}-|-${'-'.repeat(w1)}-|-------`);
for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c}`);
