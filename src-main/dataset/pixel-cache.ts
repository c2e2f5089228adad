// On-disk cache of decoded pixel rows, so a second epoch or a re-run never decodes an image again.
//
// Layout: <cacheDir>/pixels/<S>x<S>x<C>/<hash of the images' common folder>/seg-<time>-<pid>-<n>.bin
// Each segment is written once, atomically (temp file + fsync + rename), and never modified:
//   "MPXC" | u32 version | u32 header length | header JSON | rows (rowBytes each, packed)
// header = { size, channels, entries: [abs, mtimeMs, bytes, row (-1 = failed), reason?][] }.
// A crash mid-write leaves at most a temp file, never a half segment; a segment whose length does not
// match its header is ignored. New rows are appended as new segments (flushed every ~64 MB, so a crash
// during a 100k-image cold load keeps what was done); later segments win; when more than
// MAX_SEGMENTS pile up they are compacted into a few large ones. An entry is valid only while the
// file's mtime and byte size are unchanged, so an edited image is decoded again.
// Decode failures are cached too (with their reason): a corrupt file is not re-tried every epoch.
// Datasets too big to hold in memory are read straight from the segments (placeOf + pixel-source.ts).
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { writeAtomic } from '../util/atomic.js';

const MAGIC = 'MPXC';
const VERSION = 1;
const FLUSH_BYTES = 64 * 1024 * 1024;
const READ_CHUNK = 16 * 1024 * 1024;
const MAX_SEGMENTS = 16;

type HeaderEntry = [abs: string, mtimeMs: number, bytes: number, row: number, reason?: string];
interface Segment {
  file: string;
  dataOffset: number;
  rows: number;
}
interface Entry {
  mtimeMs: number;
  bytes: number;
  seg: number;
  row: number;
  reason?: string;
}

export interface CacheHit {
  reason?: string;
} // reason set = cached decode failure

/** Deepest folder containing all paths (the dataset root for a scan), so one dataset = one cache folder. */
export function commonFolder(paths: readonly string[]): string {
  if (paths.length === 0) return '';
  let parts = path.dirname(paths[0]!).split(path.sep);
  for (const p of paths) {
    const d = path.dirname(p);
    if (d === parts.join(path.sep) || d.startsWith(parts.join(path.sep) + path.sep)) continue;
    const q = d.split(path.sep);
    let k = 0;
    while (k < parts.length && k < q.length && parts[k] === q[k]) k++;
    parts = parts.slice(0, k);
  }
  return parts.join(path.sep) || path.sep;
}

export function cacheFolderFor(cacheDir: string, size: number, channels: number, paths: readonly string[]): string {
  const h = createHash('sha256').update(commonFolder(paths)).digest('hex').slice(0, 16);
  return path.join(cacheDir, 'pixels', `${size}x${size}x${channels}`, h);
}

let segCounter = 0;
function newSegmentName(): string {
  return `seg-${String(Date.now()).padStart(14, '0')}-${process.pid}-${segCounter++}.bin`;
}

async function readSegmentHeader(
  file: string,
  size: number,
  channels: number,
): Promise<{ seg: Segment; entries: HeaderEntry[] } | null> {
  let fh;
  try {
    fh = await fs.open(file, 'r');
    const st = await fh.stat();
    const head = Buffer.alloc(12);
    await fh.read(head, 0, 12, 0);
    if (head.toString('latin1', 0, 4) !== MAGIC || head.readUInt32LE(4) !== VERSION) return null;
    const hlen = head.readUInt32LE(8);
    if (12 + hlen > st.size) return null;
    const hb = Buffer.alloc(hlen);
    await fh.read(hb, 0, hlen, 12);
    const h = JSON.parse(hb.toString('utf8')) as {
      size: number;
      channels: number;
      rows: number;
      entries: HeaderEntry[];
    };
    if (h.size !== size || h.channels !== channels) return null;
    if (st.size !== 12 + hlen + h.rows * size * size * channels) return null; // truncated or foreign: ignore
    return { seg: { file, dataOffset: 12 + hlen, rows: h.rows }, entries: h.entries };
  } catch {
    return null; // unreadable or vanished (another process compacting): treat as absent
  } finally {
    await fh?.close();
  }
}

export class PixelCache {
  private segments: Segment[] = [];
  private index = new Map<string, Entry>();
  private pending: { abs: string; mtimeMs: number; bytes: number; row?: Uint8Array; reason?: string }[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  readonly rowBytes: number;

  private constructor(
    readonly folder: string,
    readonly size: number,
    readonly channels: number,
  ) {
    this.rowBytes = size * size * channels;
  }

  /** Opens (or starts) the cache for these images; a missing or damaged cache just means misses. */
  static async open(cacheDir: string, size: number, channels: number, paths: readonly string[]): Promise<PixelCache> {
    const c = new PixelCache(cacheFolderFor(cacheDir, size, channels, paths), size, channels);
    await c.load();
    return c;
  }

  private async load(): Promise<void> {
    let names: string[] = [];
    try {
      names = (await fs.readdir(this.folder)).filter((f) => f.startsWith('seg-') && f.endsWith('.bin')).sort();
    } catch {
      /* no cache yet */
    }
    for (const name of names) {
      const r = await readSegmentHeader(path.join(this.folder, name), this.size, this.channels);
      if (!r) continue;
      const seg = this.segments.push(r.seg) - 1;
      for (const [abs, mtimeMs, bytes, row, reason] of r.entries) {
        this.index.set(abs, { mtimeMs, bytes, seg, row, ...(reason !== undefined ? { reason } : {}) });
      }
    }
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Cached result for this file version, or undefined on a miss (unknown file, or mtime/size changed). */
  lookup(abs: string, mtimeMs: number, bytes: number): CacheHit | undefined {
    const e = this.index.get(abs);
    if (!e || e.mtimeMs !== mtimeMs || e.bytes !== bytes) return undefined;
    return e.row < 0 ? { reason: e.reason ?? 'could not be decoded' } : {};
  }

  /** Copies cached rows of `hits` (found with lookup) into out[index * rowBytes]. */
  async readInto(hits: readonly { index: number; abs: string }[], out: Uint8Array, rowBytes: number): Promise<void> {
    if (rowBytes !== this.rowBytes) throw new Error('pixel cache: row size mismatch');
    const bySeg = new Map<number, { row: number; index: number }[]>();
    for (const h of hits) {
      const e = this.index.get(h.abs);
      if (!e || e.row < 0) throw new Error(`pixel cache: no row for ${h.abs}`);
      let l = bySeg.get(e.seg);
      if (!l) bySeg.set(e.seg, (l = []));
      l.push({ row: e.row, index: h.index });
    }
    for (const [si, rows] of bySeg) {
      const seg = this.segments[si]!;
      rows.sort((a, b) => a.row - b.row);
      const fh = await fs.open(seg.file, 'r');
      try {
        // Read the segment in big sequential chunks (one syscall per 16 MB, not per 784-byte row).
        const rowsPerChunk = Math.max(1, Math.floor(READ_CHUNK / rowBytes));
        const buf = Buffer.allocUnsafe(rowsPerChunk * rowBytes);
        let k = 0;
        while (k < rows.length) {
          const first = rows[k]!.row;
          const last = Math.min(first + rowsPerChunk, seg.rows);
          const len = (last - first) * rowBytes;
          const { bytesRead } = await fh.read(buf, 0, len, seg.dataOffset + first * rowBytes);
          if (bytesRead !== len) throw new Error(`pixel cache: short read in ${seg.file}`);
          while (k < rows.length && rows[k]!.row < last) {
            const r = rows[k]!;
            out.set(buf.subarray((r.row - first) * rowBytes, (r.row - first + 1) * rowBytes), r.index * rowBytes);
            k++;
          }
        }
      } finally {
        await fh.close();
      }
    }
  }

  /** Where the cached row of `abs` lives (segment file, byte offset), or undefined (a miss or a cached failure). */
  placeOf(abs: string): { file: string; offset: number } | undefined {
    const e = this.index.get(abs);
    if (!e || e.row < 0) return undefined;
    const seg = this.segments[e.seg]!;
    return { file: seg.file, offset: seg.dataOffset + e.row * this.rowBytes };
  }

  /** Records a decoded row (or a decode failure reason); written to disk in batches. */
  async add(abs: string, mtimeMs: number, bytes: number, rowOrReason: Uint8Array | string): Promise<void> {
    if (typeof rowOrReason === 'string') {
      this.pending.push({ abs, mtimeMs, bytes, reason: rowOrReason });
    } else {
      if (rowOrReason.length !== this.rowBytes) throw new Error('pixel cache: row size mismatch');
      this.pending.push({ abs, mtimeMs, bytes, row: rowOrReason });
      this.pendingBytes += this.rowBytes;
    }
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
  }

  /** Writes pending entries as one new segment (serialised: never two writes at once). */
  flush(): Promise<void> {
    const batch = this.pending;
    if (batch.length === 0) return this.writing;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = this.writing.then(() => this.writeSegment(batch));
    return this.writing;
  }

  private async writeSegment(batch: typeof this.pending): Promise<void> {
    const entries: HeaderEntry[] = [];
    const rows: Uint8Array[] = [];
    for (const p of batch) {
      if (p.row) {
        entries.push([p.abs, p.mtimeMs, p.bytes, rows.length]);
        rows.push(p.row);
      } else entries.push([p.abs, p.mtimeMs, p.bytes, -1, p.reason]);
    }
    await fs.mkdir(this.folder, { recursive: true });
    const file = path.join(this.folder, newSegmentName());
    await writeAtomic(file, encodeSegment(this.size, this.channels, entries, rows));
    const seg = this.segments.push({ file, dataOffset: 0, rows: rows.length }) - 1;
    // dataOffset is only needed for reads; recompute it from the header we just wrote.
    this.segments[seg]!.dataOffset = 12 + Buffer.byteLength(headerJson(this.size, this.channels, entries, rows.length));
    for (const [abs, mtimeMs, bytes, row, reason] of entries) {
      this.index.set(abs, { mtimeMs, bytes, seg, row, ...(reason !== undefined ? { reason } : {}) });
    }
  }

  /** Flushes pending rows, then compacts when too many small segments have piled up. */
  async close(): Promise<void> {
    await this.flush();
    if (this.smallSegments().length > MAX_SEGMENTS) await this.compact();
  }

  /** Segments well under the flush size: the ones left by runs that decoded only a few changed files. */
  private smallSegments(): number[] {
    const out: number[] = [];
    this.segments.forEach((s, i) => {
      if (s.rows * this.rowBytes < FLUSH_BYTES / 4) out.push(i);
    });
    return out;
  }

  /**
   * Rewrites the live entries of the small segments into as few new segments as fit, removes the old
   * small files, and reloads the index. Big segments are left alone (no rewriting gigabytes).
   */
  async compact(): Promise<void> {
    const small = new Set(this.smallSegments());
    const live = [...this.index.entries()].filter(([, e]) => small.has(e.seg));
    let r = 0;
    for (let i = 0; i < live.length;) {
      const batch: typeof live = [];
      let bytes = 0;
      while (i < live.length && bytes < FLUSH_BYTES) {
        const e = live[i++]!;
        batch.push(e);
        if (e[1].row >= 0) bytes += this.rowBytes;
      }
      const hits = batch.filter(([, e]) => e.row >= 0).map(([abs], index) => ({ abs, index }));
      const buf = new Uint8Array(hits.length * this.rowBytes);
      await this.readInto(hits, buf, this.rowBytes);
      r = 0;
      for (const [abs, e] of batch) {
        if (e.row >= 0)
          this.pending.push({
            abs,
            mtimeMs: e.mtimeMs,
            bytes: e.bytes,
            row: buf.subarray(r * this.rowBytes, ++r * this.rowBytes),
          });
        else this.pending.push({ abs, mtimeMs: e.mtimeMs, bytes: e.bytes, reason: e.reason ?? 'could not be decoded' });
      }
      await this.flush();
    }
    // New segments sort after the old ones, so a crash before these unlinks only leaves duplicates.
    for (const si of small) await fs.unlink(this.segments[si]!.file).catch(() => undefined);
    this.segments = [];
    this.index = new Map();
    await this.load();
  }
}

function headerJson(size: number, channels: number, entries: HeaderEntry[], rows: number): string {
  return JSON.stringify({ size, channels, rows, entries });
}

export function encodeSegment(size: number, channels: number, entries: HeaderEntry[], rows: Uint8Array[]): Buffer {
  const header = Buffer.from(headerJson(size, channels, entries, rows.length), 'utf8');
  const rowBytes = size * size * channels;
  const buf = Buffer.allocUnsafe(12 + header.length + rows.length * rowBytes);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(VERSION, 4);
  buf.writeUInt32LE(header.length, 8);
  header.copy(buf, 12);
  let o = 12 + header.length;
  for (const r of rows) {
    buf.set(r, o);
    o += rowBytes;
  }
  return buf;
}
