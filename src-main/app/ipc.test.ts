// The IPC edge of the Electron shell, with 'electron' replaced by a test double: only our own
// page may call, only methods of the contract, only inputs that pass their zod schema; the
// service is called for good calls and never for bad ones.
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', async () => (await import('./electron-double')).electronDouble());

import { ipcMainDouble } from './electron-double';
import { createApiHandler, registerIpc, toErrorShape, validateApiCall } from './ipc';
import { CH, type IpcReply } from './ipc-channels';
import { APP_ORIGIN, trustedOrigins } from './security';
import { ApiError } from '../api/service-types';

const OURS = { senderFrame: { url: `${APP_ORIGIN}/index.html` } } as any;

function setup(callImpl: (m: string, i: unknown) => Promise<unknown> = async () => ({ fine: true })) {
  const service = { call: vi.fn(callImpl) };
  const pickFolder = vi.fn(async () => '/data/cats-vs-dogs');
  const pickSaveFolder = vi.fn(async () => '/data/out');
  const onDropped = vi.fn();
  const onResult = vi.fn();
  const dispose = registerIpc({
    service,
    origins: () => trustedOrigins(),
    pickFolder,
    pickSaveFolder,
    onDropped,
    onResult,
  });
  const api = ipcMainDouble.handlers.get(CH.api)!;
  return { service, pickFolder, pickSaveFolder, onDropped, onResult, dispose, api };
}

describe('IPC API channel', () => {
  beforeEach(() => {
    ipcMainDouble.handlers.clear();
    ipcMainDouble.listeners.clear();
  });

  it('registers one API channel plus the dialog and drop channels, and removes them again', () => {
    const { dispose } = setup();
    expect([...ipcMainDouble.handlers.keys()].sort()).toEqual([CH.api, CH.pickFolder, CH.pickSaveFolder].sort());
    expect([...ipcMainDouble.listeners.keys()]).toEqual([CH.dropped]);
    dispose();
    expect(ipcMainDouble.handlers.size).toBe(0);
    expect(ipcMainDouble.listeners.size).toBe(0);
  });

  it('calls the service with the parsed input for a good call and returns its value', async () => {
    const { service, api, onResult } = setup(async (m) => ({ echo: m }));
    const reply: IpcReply = await api(OURS, 'samples.query', { projectId: 'p-1', limit: 50 });
    expect(reply).toEqual({ ok: true, value: { echo: 'samples.query' } });
    expect(service.call).toHaveBeenCalledTimes(1);
    const [method, input] = service.call.mock.calls[0]!;
    expect(method).toBe('samples.query');
    // zod defaults filled in: the service receives a fully parsed input.
    expect(input).toMatchObject({
      projectId: 'p-1',
      limit: 50,
      offset: 0,
      filter: { view: 'all' },
      sort: { key: 'path', dir: 'asc' },
    });
    expect(onResult).toHaveBeenCalledWith('samples.query', input, { echo: 'samples.query' });
  });

  it.each([
    ['an unknown name', 'projects.delete'],
    ['a prototype key', '__proto__'],
    ['constructor', 'constructor'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['a number', 42],
    ['undefined', undefined],
    ['an object', { toString: () => 'app.info' }],
    ['a near miss', 'app.info '],
  ])('rejects %s as method name without calling the service', async (_what, method) => {
    const { service, api } = setup();
    const reply: IpcReply = await api(OURS, method, {});
    expect(reply.ok).toBe(false);
    if (!reply.ok) expect(reply.error.code).toBe('NOT_FOUND');
    expect(service.call).not.toHaveBeenCalled();
  });

  it.each([
    ['projects.open', { path: 5 }],
    ['projects.open', { path: '' }],
    ['projects.open', { path: 'x'.repeat(5000) }],
    ['projects.open', null],
    ['projects.open', 'some/path'],
    ['projects.get', {}],
    ['samples.query', { projectId: 'p', limit: 100_000 }],
    ['samples.query', { projectId: 'p', offset: -1 }],
    ['samples.query', { projectId: 'p', sort: { key: 'rm -rf', dir: 'asc' } }],
    ['samples.get', { projectId: 'p', id: -3 }],
    ['samples.get', { projectId: 'p', id: 1.5 }],
    ['decisions.apply', { projectId: 'p', ids: [], action: { kind: 'accept' } }],
    ['decisions.apply', { projectId: 'p', ids: [1], action: { kind: 'delete-file' } }],
    ['decisions.apply', { projectId: 'p', ids: [1], action: { kind: 'override', label: '' } }],
    ['train.start', { projectId: 'p', config: { backend: 'cuda' } }],
    ['train.start', { projectId: 'p', config: { epochs: 1e9 } }],
    ['export.start', { projectId: 'p', to: '/tmp/x', mode: 'move' }],
  ])('rejects bad input for %s (%j) without calling the service', async (method, input) => {
    const { service, api } = setup();
    const reply: IpcReply = await api(OURS, method, input);
    expect(reply.ok).toBe(false);
    if (!reply.ok) {
      expect(reply.error.code).toBe('BAD_INPUT');
      expect(reply.error.message).toContain(method);
    }
    expect(service.call).not.toHaveBeenCalled();
  });

  it.each([
    ['a web page', 'https://evil.example/index.html'],
    ['a file: page', 'file:///tmp/index.html'],
    ['a data: page', 'data:text/html,<script>1</script>'],
    ['another host of our scheme', 'mopro-app://evil/index.html'],
    ['the image scheme', 'mopro-img://image/full?project=p&path=a.png'],
    ['a prefix trick', 'mopro-app://app.evil.example/index.html'],
    ['no frame', null],
  ])('refuses calls from %s', async (_what, url) => {
    const { service, api } = setup();
    const reply: IpcReply = await api({ senderFrame: url === null ? null : { url } }, 'app.info', {});
    expect(reply).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: expect.any(String) } });
    expect(service.call).not.toHaveBeenCalled();
  });

  it('accepts the dev server origin only when it is configured', async () => {
    const service = { call: vi.fn(async () => 1) };
    const dev = { senderFrame: { url: 'http://localhost:5173/' } };
    const without = createApiHandler({ service, origins: () => trustedOrigins() });
    expect((await without(dev as any, 'app.info', {})).ok).toBe(false);
    const withDev = createApiHandler({ service, origins: () => trustedOrigins('http://localhost:5173') });
    expect(await withDev(dev as any, 'app.info', {})).toEqual({ ok: true, value: 1 });
  });

  it('passes service errors through as data with their code', async () => {
    const conflict = setup(async () => {
      throw new ApiError('CONFLICT', 'a run is already training');
    });
    expect(await conflict.api(OURS, 'app.info', {})).toEqual({
      ok: false,
      error: { code: 'CONFLICT', message: 'a run is already training' },
    });
    ipcMainDouble.handlers.clear();
    ipcMainDouble.listeners.clear();
    const boom = setup(async () => {
      throw new TypeError('x is undefined');
    });
    expect(await boom.api(OURS, 'app.info', {})).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'x is undefined' },
    });
  });

  it('dialog and drop channels ignore untrusted senders', async () => {
    const s = setup();
    const evil = { senderFrame: { url: 'https://evil.example/' } };
    expect(await ipcMainDouble.handlers.get(CH.pickFolder)!(evil)).toBeNull();
    expect(s.pickFolder).not.toHaveBeenCalled();
    expect(await ipcMainDouble.handlers.get(CH.pickFolder)!(OURS)).toBe('/data/cats-vs-dogs');
    expect(await ipcMainDouble.handlers.get(CH.pickSaveFolder)!(evil, 'x')).toBeNull();
    expect(s.pickSaveFolder).not.toHaveBeenCalled();
    expect(await ipcMainDouble.handlers.get(CH.pickSaveFolder)!(OURS, { evil: true })).toBe('/data/out');
    expect(s.pickSaveFolder).toHaveBeenCalledWith(undefined);
    const drop = ipcMainDouble.listeners.get(CH.dropped)!;
    drop(evil, '/etc');
    drop(OURS, 42);
    drop(OURS, '');
    expect(s.onDropped).not.toHaveBeenCalled();
    drop(OURS, '/data/cats-vs-dogs');
    expect(s.onDropped).toHaveBeenCalledWith('/data/cats-vs-dogs');
  });
});

describe('validateApiCall / toErrorShape', () => {
  it('returns parsed input for every method of the contract with a minimal good input', () => {
    expect(validateApiCall('app.info', {})).toEqual({ method: 'app.info', input: {} });
    expect(validateApiCall('train.start', { projectId: 'p', config: {} }).input).toMatchObject({
      config: { method: 'mopro', backend: 'auto', useDecisions: false },
    });
  });

  it('strips unknown keys instead of passing them on', () => {
    const { input } = validateApiCall('projects.open', { path: '/d', __proto__x: 1, extra: 'x' });
    expect(input).toEqual({ path: '/d' });
  });

  it('keeps known codes and hides nothing else', () => {
    expect(toErrorShape(Object.assign(new Error('gone'), { code: 'NOT_FOUND' }))).toEqual({
      code: 'NOT_FOUND',
      message: 'gone',
    });
    expect(toErrorShape(Object.assign(new Error('disk'), { code: 'ENOSPC' }))).toEqual({
      code: 'INTERNAL',
      message: 'disk',
    });
    expect(toErrorShape('weird')).toEqual({ code: 'INTERNAL', message: 'weird' });
  });
});
