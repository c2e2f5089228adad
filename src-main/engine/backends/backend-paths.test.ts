// The wasm binaries' location as tfjs-backend-wasm's Emscripten loader reads it in Node: it takes
// `prefix + file name` and opens it with fs, through `new URL` when it starts with file://, else as a
// path (path.normalize). The prefix must survive spaces, non-ASCII letters, drive letters and asar.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { wasmDistDir, wasmPathPrefix } from './backend';

const WASM = 'tfjs-backend-wasm-simd.wasm';
/** The loader's rule (tf-backend-wasm.node.js, read_): what fs is asked to open. */
const loaderOpens = (prefix: string): string | URL => {
  const f = prefix + WASM;
  return f.startsWith('file://') ? new URL(f) : path.normalize(f);
};

describe('wasm path prefix', () => {
  it('a folder with spaces and non-ASCII letters: the loader opens the real file', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-')), 'Mo Pro Stüdio', 'dist');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, WASM), 'x');
    expect(fs.readFileSync(loaderOpens(wasmPathPrefix(dir)), 'utf8')).toBe('x');
    expect(wasmPathPrefix(dir + path.sep)).toBe(dir + path.sep);
    // the old prefix (a URL's pathname) stays percent-encoded and names no file
    const old = pathToFileURL(dir).pathname + '/';
    expect(old).toContain('Mo%20Pro%20St%C3%BCdio');
    expect(fs.existsSync(loaderOpens(old))).toBe(false);
  });
  it('a Windows drive-letter folder: prefix + name is the joined path (the URL pathname form is not)', () => {
    const dir =
      'C:\\Users\\Zoë\\AppData\\Local\\Programs\\MoPro Studio\\resources\\app.asar.unpacked\\node_modules\\@tensorflow\\tfjs-backend-wasm\\dist';
    const prefix = wasmPathPrefix(dir, path.win32);
    expect(prefix).toBe(dir + '\\');
    expect(path.win32.normalize(prefix + WASM)).toBe(path.win32.join(dir, WASM));
    expect(pathToFileURL(dir, { windows: true }).pathname).toMatch(/^\/C:\/Users\/Zo%C3%AB\//);
  });
  it('packaged: the package resolves inside app.asar, the .wasm files are read from app.asar.unpacked', () => {
    const resolved =
      'C:\\Program Files\\MoPro Studio\\resources\\app.asar\\node_modules\\@tensorflow\\tfjs-backend-wasm\\dist\\tf-backend-wasm.node.js';
    const unpacked =
      'C:\\Program Files\\MoPro Studio\\resources\\app.asar.unpacked\\node_modules\\@tensorflow\\tfjs-backend-wasm\\dist';
    expect(wasmDistDir(resolved, path.win32, (f) => f === unpacked)).toBe(unpacked);
    expect(wasmDistDir(resolved, path.win32, () => false)).toBe(path.win32.dirname(resolved));
    expect(
      wasmDistDir(
        '/opt/Mo Pro/resources/app.asar/node_modules/@tensorflow/tfjs-backend-wasm/dist/x.js',
        path.posix,
        () => true,
      ),
    ).toBe('/opt/Mo Pro/resources/app.asar.unpacked/node_modules/@tensorflow/tfjs-backend-wasm/dist');
  });
});
