// mopro-img:// URLs: built in the preload (imageUrl) and parsed in the protocol handler.
// Kept free of Node and Electron imports so the sandboxed preload can bundle it.
//
//   mopro-img://image/<thumb|full>?project=<projectId>&path=<relative path, '/' separators>
//
// The parser is the first of two gates: it refuses every path that is not a plain relative
// path. The service's image() is the second (realpath + prefix check: symlinks, cache).
import { IMG_SCHEME } from './security';
import { relPathProblem } from '../../src-shared/rel-path';

export { relPathProblem };

export type ImageKind = 'thumb' | 'full';
export interface ImageRequest {
  projectId: string;
  relPath: string;
  kind: ImageKind;
}

export function imageUrl(projectId: string, relPath: string, kind: ImageKind): string {
  const q = new URLSearchParams({ project: projectId, path: relPath });
  return `${IMG_SCHEME}://image/${kind}?${q.toString()}`;
}

export class BadImageUrl extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadImageUrl';
  }
}

/** Parses and checks a mopro-img:// URL; throws BadImageUrl with a one-line reason. */
export function parseImageUrl(url: string): ImageRequest {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BadImageUrl('not a URL');
  }
  if (u.protocol !== `${IMG_SCHEME}:`) throw new BadImageUrl(`wrong scheme ${u.protocol}`);
  if (u.hostname !== 'image') throw new BadImageUrl(`unknown host ${u.hostname}`);
  const kind = u.pathname.replace(/^\//, '');
  if (kind !== 'thumb' && kind !== 'full') throw new BadImageUrl(`unknown image kind '${kind}'`);
  const projects = u.searchParams.getAll('project');
  const paths = u.searchParams.getAll('path');
  if (projects.length !== 1 || paths.length !== 1) throw new BadImageUrl('need exactly one project and one path');
  const projectId = projects[0]!;
  const relPath = paths[0]!;
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(projectId) || projectId === '.' || projectId === '..') {
    throw new BadImageUrl('bad project id');
  }
  const problem = relPathProblem(relPath);
  if (problem) throw new BadImageUrl(problem);
  return { projectId, relPath, kind };
}
