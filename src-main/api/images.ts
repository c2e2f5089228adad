// The images of an open dataset as files for the transports: the original (with its MIME type) or a cached
// 128 px WebP thumbnail, and an image's size for the detail panel. A request passes two gates: the one
// relative-path check (src-shared/rel-path.ts) before the disk is touched, then real paths that must stay
// inside the dataset (a symlink may not lead out of it).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { relPathProblem } from '../../src-shared/rel-path';
import { ApiError, type ImageFile } from './service-types';
import type { Project } from '../project/project';

const THUMB_SIZE = 128;
/** Decompression-bomb guard for thumbnails (sharp's default allows 268 Mpx). */
const MAX_INPUT_PIXELS = 64_000_000;
const MIME: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.avif': 'image/avif',
  '.bmp': 'image/bmp',
};

/** The MIME type a file is served with, by its extension. */
function mimeOf(file: string): string {
  return MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

const isInside = (parent: string, child: string): boolean => {
  const r = path.relative(parent, child);
  return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
};

export interface Images {
  /** Resolves an image request to a file inside the dataset or the thumbnail cache; ApiError otherwise. */
  image(projectId: string, relPath: string, kind: 'thumb' | 'full'): Promise<ImageFile>;
  /** Width and height from the file header (no decode), or null when it is missing, undecodable or outside. */
  size(p: Project, relPath: string): Promise<{ width: number; height: number } | null>;
}

export function createImages(opts: {
  cacheDir: string;
  /** The open project; its errors are already API errors. */
  project(id: string): Promise<Project>;
}): Images {
  const thumbsInFlight = new Map<string, Promise<string>>();
  const knownPaths = new WeakMap<Project, Set<string>>();

  async function thumbnail(abs: string, st: fs.Stats): Promise<string> {
    const key = crypto.createHash('sha256').update(`${abs}\0${st.mtimeMs}\0${st.size}`).digest('hex');
    const file = path.join(opts.cacheDir, 'thumbs', key.slice(0, 2), `${key}.webp`);
    if (fs.existsSync(file)) return file;
    let p = thumbsInFlight.get(key);
    if (!p) {
      p = (async () => {
        const { default: sharp } = await import('sharp');
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.${crypto.randomBytes(3).toString('hex')}.tmp`;
        await sharp(abs, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
          .rotate() // honour EXIF orientation
          .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
          .webp({ quality: 80 })
          .toFile(tmp);
        fs.renameSync(tmp, file);
        return file;
      })().finally(() => thumbsInFlight.delete(key));
      thumbsInFlight.set(key, p);
    }
    return p;
  }

  return {
    async image(projectId, relPath, kind) {
      if (kind !== 'thumb' && kind !== 'full') throw new ApiError('BAD_INPUT', 'kind must be thumb or full');
      const problem = relPathProblem(relPath);
      if (problem) throw new ApiError('FORBIDDEN', `path refused (${problem})`);
      const p = await opts.project(projectId);
      let known = knownPaths.get(p);
      if (!known || known.size !== p.scan.samples.length) {
        known = new Set(p.scan.samples.map((s) => s.rel));
        knownPaths.set(p, known);
      }
      if (!known.has(relPath)) throw new ApiError('NOT_FOUND', `"${relPath}" is not an image of this project`);
      let real: string, rootReal: string, st: fs.Stats;
      try {
        rootReal = fs.realpathSync(p.root);
        real = fs.realpathSync(path.join(p.root, ...relPath.split('/')));
        st = fs.statSync(real);
      } catch {
        throw new ApiError('NOT_FOUND', `"${relPath}" is gone from disk`);
      }
      // Symlinks inside the dataset may not lead out of it.
      if (!isInside(rootReal, real)) throw new ApiError('FORBIDDEN', 'path refused (leads outside the dataset)');
      if (!st.isFile()) throw new ApiError('NOT_FOUND', `"${relPath}" is not a file`);
      if (kind === 'full') return { file: real, mime: mimeOf(real) };
      try {
        return { file: await thumbnail(real, st), mime: 'image/webp' };
      } catch (e) {
        throw new ApiError(
          'NOT_FOUND',
          `no thumbnail for "${relPath}": ${String((e as Error).message).split('\n')[0]}`,
        );
      }
    },

    async size(p, relPath) {
      try {
        // Header only (no decode): cheap, and bounded by the same pixel guard as thumbnails.
        const real = fs.realpathSync(path.join(p.root, ...relPath.split('/')));
        if (!isInside(fs.realpathSync(p.root), real)) return null; // a symlink out of the dataset: not even its size
        const { default: sharp } = await import('sharp');
        const m = await sharp(real, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
        return m.width && m.height ? { width: m.width, height: m.height } : null;
      } catch {
        return null; // missing or undecodable: the detail panel shows no size
      }
    },
  };
}
