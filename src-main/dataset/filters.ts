// Which directory entries count as candidate images. Shared by the class-folder scan and the
// flat listing used by `predict`, so both ignore exactly the same things.
import path from 'node:path';

export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  'jpg',
  'jpeg',
  'png',
  'webp',
  'gif',
  'tif',
  'tiff',
  'avif',
]);

export function isHiddenName(name: string): boolean {
  return name.startsWith('.');
}

export function hasImageExtension(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).slice(1).toLowerCase());
}

/** Short, one-line form of an OS error for a skip reason. */
export function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'EACCES':
    case 'EPERM':
      return 'not readable (permission denied)';
    case 'ELOOP':
      return 'symlink loop';
    case 'ENOENT':
      return 'broken symlink or file vanished during scan';
    case 'EISDIR':
      return 'is a folder';
    default:
      return (e?.message ?? String(err)).split('\n')[0]!.slice(0, 160);
  }
}
