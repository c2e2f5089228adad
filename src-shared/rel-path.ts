// The one check for a dataset-relative path that arrives from outside (HTTP image route, the mopro-img:// and
// mopro-app:// protocols, API inputs). Pure and dependency-free: the sandboxed preload bundles it too.
// It is the first of two gates; the second resolves real paths and checks they stay inside the dataset or cache.

/**
 * Why a relative path is refused, or null when it is acceptable. Refused: empty or over 4096 characters, NUL,
 * backslashes, absolute paths (`/x`, `C:`), '.', '..' or empty segments,
 * and the escapes of '.', '/', '\', NUL and '%' left after the transport's one decoding (double-encoding tricks
 * such as %252e). Other %XX sequences, tabs, line breaks and a leading '~' are ordinary characters of real file
 * names (scraped names hold "%20" and worse); the second gate decides whether such a file exists inside the root.
 */
export function relPathProblem(rel: string): string | null {
  if (typeof rel !== 'string' || rel.length === 0) return 'empty path';
  if (rel.length > 4096) return 'path too long';
  if (rel.includes('\0')) return 'NUL in path';
  if (rel.includes('\\')) return 'backslash in path';
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) return 'absolute path';
  if (/%(2e|2f|5c|00|25)/i.test(rel)) return 'percent-encoded dot, slash, backslash, NUL or % in path (encoded twice?)';
  for (const seg of rel.split('/')) if (seg === '' || seg === '.' || seg === '..') return `bad path segment '${seg}'`;
  return null;
}
