// Picks the transport once: the Electron preload bridge when present, else HTTP + WebSocket with
// the token from the page URL (kept in sessionStorage so a reload keeps working after we strip
// it from the address bar).
import type { MoproApi } from '@shared/contract';
import type { MoproBridge, ShellCommand } from '../env';
import { createHttpApi } from './http';

export const TOKEN_KEY = 'mopro.token';

export interface PageEnv {
  href: string;
  storage: Pick<Storage, 'getItem' | 'setItem'>;
  bridge?: MoproBridge;
  /** <meta name="mopro-token"> that `mopro serve` injects into index.html. */
  metaToken?: string | null;
  /** Removes the token from the visible URL (history.replaceState). */
  replaceUrl?: (url: string) => void;
}

/**
 * Reads the token from ?token= (preferred), the page's meta tag, or sessionStorage; remembers it;
 * hides it from the address bar (and from screenshots and shoulder-surfers).
 */
export function resolveToken(env: PageEnv): string | null {
  const url = new URL(env.href);
  const fromUrl = url.searchParams.get('token') || env.metaToken || null;
  if (url.searchParams.has('token')) {
    url.searchParams.delete('token');
    env.replaceUrl?.(url.pathname + url.search + url.hash);
  }
  if (fromUrl) {
    env.storage.setItem(TOKEN_KEY, fromUrl);
    return fromUrl;
  }
  return env.storage.getItem(TOKEN_KEY);
}

export interface Transport {
  api: MoproApi;
  kind: 'electron' | 'http';
  pickFolder: (() => Promise<string | null>) | null;
  pickSaveFolder: ((suggestedName?: string) => Promise<string | null>) | null;
  /** Menu and drag-and-drop commands (Electron only). */
  onCommand: (listener: (c: ShellCommand) => void) => () => void;
}

const noCommands = (): (() => void) => () => undefined;

export function createTransport(env: PageEnv): Transport {
  if (env.bridge) {
    const b = env.bridge;
    return {
      api: b,
      kind: 'electron',
      pickFolder: b.pickFolder ? () => b.pickFolder!() : null,
      pickSaveFolder: b.pickSaveFolder ? (n) => b.pickSaveFolder!(n) : null,
      onCommand: b.onCommand ? (l) => b.onCommand!(l) : noCommands,
    };
  }
  const token = resolveToken(env) ?? '';
  const base = new URL(env.href).origin;
  return {
    api: createHttpApi({ base, token }),
    kind: 'http',
    pickFolder: null,
    pickSaveFolder: null,
    onCommand: noCommands,
  };
}

let current: Transport | null = null;

/** The app's transport (created on first use from the real page). */
export function transport(): Transport {
  if (!current) {
    current = createTransport({
      href: window.location.href,
      storage: window.sessionStorage,
      bridge: window.mopro,
      metaToken: document.querySelector<HTMLMetaElement>('meta[name="mopro-token"]')?.content ?? null,
      replaceUrl: (u) => window.history.replaceState(null, '', u),
    });
  }
  return current;
}

/** Tests (and the fake) swap the transport before the stores use it. */
export function setTransport(t: Transport | null): void {
  current = t;
}
