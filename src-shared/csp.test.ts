import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from './csp';

describe('the renderer CSP', () => {
  it("index.html's meta tag is the shared policy (with the Electron image scheme, without frame-ancestors)", () => {
    const html = fs.readFileSync(path.join(import.meta.dirname, '..', 'src-renderer', 'index.html'), 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
    expect(meta).toBe(contentSecurityPolicy({ img: ['mopro-img:'], meta: true }));
  });
  it('never allows inline or eval scripts, and adds only what a host asks for', () => {
    const p = contentSecurityPolicy({ connect: ['ws://127.0.0.1:1'] });
    expect(p).toMatch(/script-src 'self';/);
    expect(p).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
    expect(p).toContain("connect-src 'self' ws://127.0.0.1:1;");
    expect(p).toContain("frame-ancestors 'none'");
  });
});
