// Where MoPro Studio keeps its own files. Never inside the user's dataset.
// MOPRO_DATA_DIR / MOPRO_CACHE_DIR override both (tests point them at temp folders).
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function appDataDir(): string {
  if (process.env.MOPRO_DATA_DIR) return path.resolve(process.env.MOPRO_DATA_DIR);
  const base =
    process.platform === 'win32'
      ? (process.env.APPDATA ?? path.join(os.homedir(), 'AppData', 'Roaming'))
      : process.platform === 'darwin'
        ? path.join(os.homedir(), 'Library', 'Application Support')
        : (process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'));
  return path.join(base, 'mopro-studio');
}

export function cacheDir(): string {
  if (process.env.MOPRO_CACHE_DIR) return path.resolve(process.env.MOPRO_CACHE_DIR);
  const base =
    process.platform === 'win32'
      ? (process.env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local'))
      : process.platform === 'darwin'
        ? path.join(os.homedir(), 'Library', 'Caches')
        : (process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'));
  return path.join(base, 'mopro-studio');
}

/** The repository root (resources/ lives there); works from src-main/ under tsx and from out/ when built. */
export function appRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url)); // decoded: spaces and non-ASCII folder names intact
  for (let i = 0; i < 6; i++) {
    if (path.basename(dir) === 'src-main' || path.basename(dir) === 'out') return path.dirname(dir);
    dir = path.dirname(dir);
  }
  return process.cwd();
}

export function sampleDatasetDir(): string {
  // Packaged: resources/ is unpacked beside app.asar, since sharp opens files by path.
  return path.join(appRoot(), 'resources', 'sample').replace(`app.asar${path.sep}`, `app.asar.unpacked${path.sep}`);
}
