import { describe, expect, it } from 'vitest';
import { relPathProblem } from './rel-path';

describe('relPathProblem: the one relative-path gate', () => {
  it('accepts plain relative paths, including scraped names with ordinary %XX and a lone %', () => {
    for (const ok of [
      'cat/a.png',
      'Ankle_boot/x y.png',
      'c/100%_cotton.jpg',
      'c/image%20(1).jpg',
      'Œuf/ü.png',
      'a/.hidden.png',
      'a/b/c/d.png',
      'hostile/tab\there.png',
      'c/new\nline, "quoted".png',
      '~backup/x.png',
    ]) {
      expect([ok, relPathProblem(ok)]).toEqual([ok, null]);
    }
  });
  it('refuses traversal, absolute, NUL, backslashes and double-encoded escapes', () => {
    for (const bad of [
      '',
      'x'.repeat(4097),
      '../a.png',
      'a/../../b.png',
      'a/./b.png',
      'a//b.png',
      'a/',
      '/etc/passwd',
      'C:/x.png',
      'c:x',
      'a\\b.png',
      'a/b\u0000.png',
      '%2e%2e/x.png',
      'a%2Fb.png',
      '%5cx',
      '%252e%252e/x',
      'a/%00.png',
    ]) {
      expect([bad.slice(0, 20), relPathProblem(bad) === null]).toEqual([bad.slice(0, 20), false]);
    }
  });
});
