// Fetch the Electron binary ourselves: electron's own install script is switched off through
// package.json "allowScripts" so that `npm install` succeeds where GitHub is unreachable.
// On a normal machine this downloads the binary exactly as electron's postinstall would.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const installer = path.join(root, 'node_modules', 'electron', 'install.js');
if (!fs.existsSync(installer)) {
  console.warn(
    '[mopro-studio] electron is not installed (production install?); desktop app unavailable, browser mode still works.',
  );
  process.exit(0);
}
const r = spawnSync(process.execPath, [installer], {
  cwd: path.dirname(installer),
  stdio: ['ignore', 'inherit', 'pipe'],
  timeout: 300_000,
});
if (r.status !== 0) {
  const why =
    String(r.stderr ?? '')
      .split('\n')
      .find((l) => /ENOTFOUND|EAI_AGAIN|ECONN|Error/.test(l)) ?? `exit ${r.status}`;
  console.warn(`[mopro-studio] WARNING: the Electron binary could not be downloaded (${why.trim().slice(0, 160)}).`);
  console.warn(
    '[mopro-studio] Browser mode (`npm start`) and every test still work. For the desktop app run `node node_modules/electron/install.js` when online.',
  );
}
