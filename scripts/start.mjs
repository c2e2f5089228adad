#!/usr/bin/env node
// `npm start`: the desktop app when the Electron binary is installed, otherwise browser mode.
//
//   npm start                       Electron if present, else browser mode on the bundled sample
//   npm start -- --browser          browser mode even where Electron is installed
//   npm start -- --port 4780 --dataset /path/to/folder    (browser mode options)
//
// Electron mode rebuilds out/ when a source is newer, then runs `electron .` (package.json
// "main" is out/main/index.js). Browser mode builds the renderer when stale, then runs the API
// server (src-main/server/main.ts under tsx) on 127.0.0.1 and prints the URL with its token.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';

const root = path.resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const forceBrowser = argv.includes('--browser') || process.env.MOPRO_FORCE_BROWSER === '1';

/** { path } of an installed Electron binary, or { why } it is not usable. */
function electronBinary() {
  try {
    const p = require('electron'); // the package's index.js returns the binary path, or throws
    if (typeof p !== 'string') return { why: 'the electron package did not return a binary path' };
    if (!fs.existsSync(p)) return { why: `${p} does not exist` };
    return { path: p };
  } catch (e) {
    const msg = String(e?.message ?? e).split('\n')[0];
    return { why: msg.includes('failed to install') ? 'download blocked or skipped at npm install' : msg };
  }
}

/** Newest mtime under the given files/folders (node_modules and dot-folders skipped). */
function newestMtime(paths) {
  let newest = 0;
  const walk = (p) => {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p)) {
        if (name === 'node_modules' || name.startsWith('.')) continue;
        // Tests do not go into the build.
        if (/\.test\.ts$/.test(name)) continue;
        walk(path.join(p, name));
      }
    } else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) walk(path.join(root, p));
  return newest;
}

/** True when any output is missing or older than the newest input. */
function stale(outputs, inputs) {
  const src = newestMtime(inputs);
  return outputs.some((o) => {
    const candidates = Array.isArray(o) ? o : [o];
    const found = candidates.map((c) => path.join(root, c)).find((c) => fs.existsSync(c));
    return !found || fs.statSync(found).mtimeMs < src;
  });
}

function build() {
  console.log('[mopro] building (electron-vite build)…');
  const bin = path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  const r = spawnSync(process.execPath, [bin, 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      `[mopro] build failed (exit ${r.status}); fix the errors above, or run \`npm run build\` to see them again.`,
    );
    process.exit(1);
  }
}

const CONFIG = ['electron.vite.config.ts', 'package.json'];

function startElectron(electronPath) {
  const outputs = [
    'out/main/index.js',
    ['out/preload/index.cjs', 'out/preload/index.js', 'out/preload/index.mjs'],
    'out/renderer/index.html',
  ];
  if (stale(outputs, ['src-main', 'src-renderer', ...CONFIG])) build();
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE; // would make the binary a plain Node
  const extra = argv.filter((a) => a !== '--browser');
  const child = spawn(electronPath, ['.', ...extra], { cwd: root, stdio: 'inherit', env });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

function startBrowser(reason) {
  if (stale(['out/renderer/index.html'], ['src-renderer', 'src-shared', ...CONFIG])) build();
  const dataset = path.resolve(opt('--dataset') ?? path.join(root, 'resources', 'sample'));
  if (!fs.existsSync(dataset)) {
    console.error(
      `[mopro] dataset folder ${dataset} does not exist: pass --dataset <folder with one sub-folder per class>.`,
    );
    process.exit(2);
  }
  const port = opt('--port') ?? process.env.MOPRO_PORT ?? '0';
  const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  // A child under the tsx CLI (not an in-process loader), so the server's .ts sources load; the engine's
  // job processes register tsx themselves (engine/job-runner.ts).
  const child = spawn(
    process.execPath,
    [tsx, path.join(root, 'src-main', 'server', 'main.ts'), '--port', String(port), '--dataset', dataset],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    },
  );
  let announced = false;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    if (!announced && line.startsWith('{')) {
      try {
        const info = JSON.parse(line);
        announced = true;
        console.log(`${reason}; running in browser mode at ${info.url}`);
        console.log(`[mopro] dataset: ${dataset}`);
        console.log('[mopro] open that URL in Chrome, Edge or Firefox. Press Ctrl-C to stop.');
        return;
      } catch {
        /* not the info line: print it as is */
      }
    }
    console.log(line);
  });
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      child.kill(sig);
    });
  }
  child.on('exit', (code, signal) => {
    if (!announced) console.error(`[mopro] the server did not start (exit ${code ?? signal}); see the messages above.`);
    process.exit(stopping ? 0 : (code ?? 1));
  });
}

const electron = electronBinary();
if (forceBrowser) startBrowser('Browser mode requested (--browser)');
else if (electron.path) startElectron(electron.path);
else
  startBrowser(
    `Electron binary not installed (${electron.why}; run \`node node_modules/electron/install.js\` when online for the desktop app)`,
  );
