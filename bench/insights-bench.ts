// Insights performance on synthetic embeddings: time to the first map paint and to the
// finished 2-D layout for 10k and 100k points, near-duplicate search, and frame times while
// panning 100k points in Chromium (playwright-core, headless, software canvas).
// Run: npx tsx bench/insights-bench.ts [--sizes 10000,100000] [--no-browser]
// "First paint" = server PCA layout + JSON encode/decode of the map + the browser drawing it
// (localhost transfer of ~2-4 MB not included). The browser part runs the map's real drawing
// module (src-renderer/src/insights/scatter.ts), bundled with esbuild into a bare page.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type Page } from 'playwright-core';
import { clusteredEmbeddings, EMB_DIM } from '../tests/fixtures/insights';
import { findDuplicates } from '../src-main/insights/duplicates';
import { pcaLayout, umapLayout } from '../src-main/insights/layout';
import { rng } from '../tests/fixtures/project';

const arg = (name: string): string | null => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : null;
};
const sizes = (arg('--sizes') ?? '10000,100000').split(',').map(Number);
const browserOn = !process.argv.includes('--no-browser');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const K = 10;
const ms = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const rows: [string, string, string][] = [];

// What the page offers the functions passed to page.evaluate (this file typechecks without DOM types).
interface ScatterLike {
  drawn: number;
  resize(w: number, h: number, dpr: number): void;
  setData(p: Float32Array, c: Uint32Array, protos: []): void;
  fit(): void;
  draw(): void;
  pan(x: number, y: number): void;
}
interface PageGlobals {
  ScatterLib: { Scatter: new (canvas: unknown) => ScatterLike; toPixel(argb: number): number };
  scatter: ScatterLike;
  document: { getElementById(id: string): unknown };
  requestAnimationFrame(cb: (t: number) => void): number;
}
const round = (v: number): number => Math.round(v * 1e4) / 1e4;

async function bundleScatter(): Promise<string> {
  const r = await build({
    entryPoints: [path.resolve(import.meta.dirname, '../src-renderer/src/insights/scatter.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'ScatterLib',
    write: false,
    target: 'es2022',
  });
  return r.outputFiles[0].text;
}

async function newPage(): Promise<{ page: Page; close: () => Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  await page.setContent(
    '<!doctype html><body style="margin:0"><canvas id="c" style="width:1280px;height:760px;display:block"></canvas></body>',
  );
  // tsx compiles this file with keepNames: functions passed to page.evaluate call __name().
  await page.addScriptTag({ content: 'window.__name = (f) => f;' });
  await page.addScriptTag({ content: await bundleScatter() });
  return { page, close: () => browser.close() };
}

/** In the page: parse the map JSON, build colours, fit and draw; resolves after the frame is presented. */
async function firstPaint(page: Page, json: string): Promise<{ total: number; draw: number; drawn: number }> {
  return page.evaluate(async (text) => {
    const g = globalThis as unknown as PageGlobals;
    const L = g.ScatterLib;
    const t0 = performance.now();
    const m = JSON.parse(text) as { points: number[]; given: number[] };
    const canvas = g.document.getElementById('c');
    const s = new L.Scatter(canvas);
    s.resize(1280, 760, 1);
    const pal = [
      0xff4e79a7, 0xfff28e2b, 0xffe15759, 0xff76b7b2, 0xff59a14f, 0xffedc948, 0xffb07aa1, 0xffff9da7, 0xff9c755f,
      0xffbab0ac,
    ];
    const colors = new Uint32Array(m.given.length);
    for (let i = 0; i < colors.length; i++) colors[i] = L.toPixel(pal[m.given[i] % 10]);
    s.setData(Float32Array.from(m.points), colors, []);
    s.fit();
    const d0 = performance.now();
    s.draw();
    const draw = performance.now() - d0;
    await new Promise((r) => g.requestAnimationFrame(() => setTimeout(r, 0)));
    g.scatter = s;
    return { total: performance.now() - t0, draw, drawn: s.drawn };
  }, json);
}

/** Pans the drawn map for `frames` animation frames; returns the intervals between frames and draw times. */
async function panFrames(page: Page, frames: number): Promise<{ intervals: number[]; draws: number[] }> {
  return page.evaluate(async (n) => {
    const g = globalThis as unknown as PageGlobals;
    const s = g.scatter;
    const intervals: number[] = [],
      draws: number[] = [];
    let last = 0;
    await new Promise<void>((done) => {
      let k = 0;
      const step = (t: number): void => {
        if (last) intervals.push(t - last);
        last = t;
        const d0 = performance.now();
        s.pan(k % 120 < 60 ? 6 : -6, k % 80 < 40 ? 3 : -3);
        s.draw();
        draws.push(performance.now() - d0);
        if (++k < n) g.requestAnimationFrame(step);
        else done();
      };
      g.requestAnimationFrame(step);
    });
    return { intervals, draws };
  }, frames);
}

const env = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, node ${process.version}`;
const b = browserOn && fs.existsSync(CHROMIUM) ? await newPage() : null;
if (browserOn && !b) console.log(`(no Chromium at ${CHROMIUM}: browser rows skipped)`);

for (const n of sizes) {
  const r = rng(n);
  const classOf = Int32Array.from({ length: n }, () => (r() < 0.05 ? -1 : Math.floor(r() * K)));
  const { emb, protos } = clusteredEmbeddings(classOf, K, EMB_DIM, 3, 0.6);
  const label = `${(n / 1000).toFixed(0)}k`;

  let t = performance.now();
  const pca = pcaLayout(emb, n, EMB_DIM, protos, K);
  const pcaMs = performance.now() - t;
  t = performance.now();
  const json = JSON.stringify({
    points: Array.from(pca.points, round),
    given: Array.from(classOf, (c) => Math.max(0, c)),
  });
  const encMs = performance.now() - t;
  rows.push([label, 'PCA layout (server)', ms(pcaMs)]);
  rows.push([label, 'map JSON encode (server)', `${ms(encMs)}, ${(json.length / 1e6).toFixed(1)} MB`]);
  if (b) {
    const fp = await firstPaint(b.page, json);
    rows.push([
      label,
      'parse + colour + fit + draw (browser)',
      `${ms(fp.total)} (draw ${ms(fp.draw)}, ${fp.drawn} points drawn)`,
    ]);
    rows.push([label, '=> time to first map paint', ms(pcaMs + encMs + fp.total)]);
  }

  t = performance.now();
  let phaseAt = t;
  const phases: string[] = [];
  let cur = '';
  const umap = await umapLayout(emb, n, EMB_DIM, protos, K, {
    onProgress: (p) => {
      if (p !== cur) {
        if (cur) phases.push(`${cur} ${ms(performance.now() - phaseAt)}`);
        cur = p;
        phaseAt = performance.now();
      }
    },
  });
  phases.push(`${cur} ${ms(performance.now() - phaseAt)}`);
  const umapMs = performance.now() - t;
  if (!umap) throw new Error('umap cancelled');
  rows.push([label, '=> finished UMAP layout (server)', `${ms(umapMs)} (${phases.join(', ')})`]);

  t = performance.now();
  const dup = findDuplicates(emb, n, EMB_DIM, { threshold: 0.98 });
  rows.push([
    label,
    `near duplicates, cosine >= 0.98 (${dup.exact ? 'exact' : 'LSH'})`,
    `${ms(performance.now() - t)} (${dup.pairs.length} pairs)`,
  ]);

  if (b && n >= 100_000) {
    const { intervals, draws } = await panFrames(b.page, 150);
    rows.push([
      label,
      'pan: frame interval median / p95 / max',
      `${ms(pct(intervals, 0.5))} / ${ms(pct(intervals, 0.95))} / ${ms(Math.max(...intervals))}`,
    ]);
    rows.push([label, 'pan: draw per frame median / p95', `${ms(pct(draws, 0.5))} / ${ms(pct(draws, 0.95))}`]);
  }
}
await b?.close();

const w0 = Math.max(...rows.map((x) => x[0].length), 6),
  w1 = Math.max(...rows.map((x) => x[1].length));
console.log(`\nInsights bench — ${env}; Chromium headless, --disable-gpu (software canvas), 1280x760 canvas\n`);
console.log(`${'points'.padEnd(w0)} | ${'step'.padEnd(w1)} | result`);
console.log(`${'-'.repeat(w0)}-|-${'-'.repeat(w1)}-|-------`);
for (const [a, s, v] of rows) console.log(`${a.padEnd(w0)} | ${s.padEnd(w1)} | ${v}`);
