import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTransport, resolveToken, TOKEN_KEY } from './client';
import { createHttpApi } from './http';
import { ApiCallError, toApiError } from './errors';

function storage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m };
}

describe('resolveToken', () => {
  it('takes ?token=, remembers it and strips it from the URL', () => {
    const s = storage();
    const replaced: string[] = [];
    expect(
      resolveToken({
        href: 'http://127.0.0.1:5/?token=abc&project=p1#x',
        storage: s,
        replaceUrl: (u) => replaced.push(u),
      }),
    ).toBe('abc');
    expect(s.m.get(TOKEN_KEY)).toBe('abc');
    expect(replaced).toEqual(['/?project=p1#x']);
  });
  it('falls back to the meta tag, then to sessionStorage (after a reload)', () => {
    const s = storage();
    expect(resolveToken({ href: 'http://h/', storage: s, metaToken: 'm1' })).toBe('m1');
    expect(resolveToken({ href: 'http://h/', storage: s })).toBe('m1');
    expect(resolveToken({ href: 'http://h/', storage: storage() })).toBeNull();
  });
});

describe('createTransport', () => {
  it('prefers the Electron bridge', () => {
    const bridge = { call: vi.fn(), on: vi.fn(), imageUrl: vi.fn(), pickFolder: vi.fn(async () => '/x') };
    const t = createTransport({ href: 'mopro-app://app/index.html', storage: storage(), bridge });
    expect(t.kind).toBe('electron');
    expect(t.api).toBe(bridge);
    expect(t.pickFolder).not.toBeNull();
  });
  it('uses HTTP without a bridge, with no native picker', () => {
    const t = createTransport({ href: 'http://127.0.0.1:9/?token=t', storage: storage() });
    expect(t.kind).toBe('http');
    expect(t.pickFolder).toBeNull();
    expect(t.api.imageUrl('p', 'a b/c.png', 'thumb')).toBe(
      'http://127.0.0.1:9/api/image?project=p&path=a+b%2Fc.png&kind=thumb&token=t',
    );
  });
});

describe('http transport', () => {
  afterEach(() => vi.unstubAllGlobals());
  it('posts JSON with the token header and returns the body', async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ ids: [1, 2] }), { status: 200 }));
    vi.stubGlobal('fetch', fetchMock);
    const api = createHttpApi({ base: 'http://h:1', token: 'tok' });
    await expect(api.call('samples.ids', { projectId: 'p' })).resolves.toEqual({ ids: [1, 2] });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://h:1/api/samples.ids');
    expect((init.headers as Record<string, string>)['x-mopro-token']).toBe('tok');
    expect(JSON.parse(init.body as string)).toEqual({ projectId: 'p' });
  });
  it('turns a 4xx {code, message} into ApiCallError', async () => {
    vi.stubGlobal(
      'fetch',
      async () => new Response(JSON.stringify({ code: 'NOT_FOUND', message: 'no project "x"' }), { status: 404 }),
    );
    const api = createHttpApi({ base: 'http://h:1', token: 'tok' });
    const err = await api.call('projects.get', { projectId: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiCallError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', message: 'no project "x"' });
  });
  it('says plainly when the server is unreachable', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    const api = createHttpApi({ base: 'http://h:1', token: 'tok' });
    await expect(api.call('app.info', {})).rejects.toMatchObject({ code: 'NETWORK' });
  });
});

describe('toApiError', () => {
  it('parses the code out of an IPC error message', () => {
    expect(toApiError(new Error('CONFLICT: a run is already training'))).toMatchObject({
      code: 'CONFLICT',
      message: 'a run is already training',
    });
    expect(toApiError({ code: 'FORBIDDEN', message: 'no' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(toApiError(new Error('boom'))).toMatchObject({ code: 'INTERNAL', message: 'boom' });
  });
});
