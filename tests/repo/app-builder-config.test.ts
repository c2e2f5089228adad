// electron-builder.yml cannot be exercised here (installers need downloads), so it is checked
// with electron-builder's own schema validation, plus the choices that matter for this app.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
// js-yaml and app-builder-lib come with electron-builder (devDependency).
const yaml = require('js-yaml') as { load(s: string): unknown };
const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as {
  validateConfiguration(c: unknown, log: { isEnabled: boolean; add(): void }): Promise<void>;
};

const config = yaml.load(fs.readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as Record<string, any>;

describe('electron-builder.yml', () => {
  it("passes electron-builder's schema validation", async () => {
    await expect(validateConfiguration(config, { isEnabled: false, add() {} })).resolves.toBeUndefined();
  });

  it('the validation is real: a misspelt option fails', async () => {
    await expect(
      validateConfiguration({ ...config, asarUnpak: ['x'] }, { isEnabled: false, add() {} }),
    ).rejects.toThrow();
  });

  it('builds AppImage + deb, NSIS and dmg', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.win.target.map((t: any) => t.target)).toEqual(['nsis']);
    expect(config.mac.target.map((t: any) => t.target)).toEqual(['dmg']);
  });

  it('packs the build output and resources, and the entry point package.json names', () => {
    expect(config.files).toEqual(
      expect.arrayContaining(['out/main/**', 'out/preload/**', 'out/renderer/**', 'resources/**']),
    );
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.main).toBe('./out/main/index.js');
  });

  it('unpacks native and wasm parts from the asar, and ships the native backends that were installed', () => {
    expect(config.asar).toBe(true);
    expect(config.asarUnpack).toEqual(
      expect.arrayContaining([
        'node_modules/sharp/**',
        'node_modules/@img/**',
        'node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm',
        'node_modules/@tensorflow/tfjs-node-gpu/**',
        'node_modules/@tensorflow/tfjs-node/**',
        'node_modules/webgpu/**',
        'resources/**',
      ]),
    );
    expect(config.files.filter((f: string) => f.includes('tfjs-node'))).toEqual([]);
    // each installer keeps only its own OS's Dawn binary, and that one exists in an install
    expect(config.linux.files).toEqual(['!node_modules/webgpu/dist/{darwin,win32}-*/**']);
    expect(config.win.files).toEqual(['!node_modules/webgpu/dist/{darwin,linux}-*/**']);
    expect(config.mac.files).toEqual(['!node_modules/webgpu/dist/{linux,win32}-*/**']);
    expect(fs.existsSync(path.join(root, 'node_modules/webgpu/dist/linux-x64/dawn.node'))).toBe(true);
    // The unpack patterns point at files that really exist in an install.
    expect(
      fs
        .readdirSync(path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'))
        .some((f) => f.endsWith('.wasm')),
    ).toBe(true);
    expect(fs.existsSync(path.join(root, 'node_modules/sharp'))).toBe(true);
  });

  it('switches off the Electron fuses that let the binary run arbitrary code', () => {
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
    });
  });
});
