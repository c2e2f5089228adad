// Decoded pixel rows for training and eval passes, read a batch at a time.
//
// A MemoryPixelSource wraps one N x rowBytes array (small datasets: no disk access per batch). A
// SegmentPixelSource reads the rows straight out of the on-disk pixel cache's segment files with positioned
// reads, so a dataset is bounded by disk, not by memory or by the 4 GiB cap on one typed array: it holds the
// row index (12 bytes per image), up to MAX_OPEN_FILES open segment files and a read window of WINDOW_BYTES.
// Rows that sit next to each other on disk are fetched in one read (a sequential pass reads big runs; a
// shuffled batch reads row by row). Both give the same bytes for the same rows.
import fs from 'node:fs';

export interface PixelSource {
  /** rows (images) in the source */
  readonly n: number;
  /** bytes per row (size x size x channels) */
  readonly rowBytes: number;
  /** rows `rows`, in that order, packed into `out` (rows.length x rowBytes; allocated when absent) */
  read(rows: ArrayLike<number>, out?: Uint8Array): Uint8Array;
  /** releases open files (a memory source has none) */
  close(): void;
}

/** Pixels as the trainer and eval passes take them: a source, or one packed N x rowBytes array. */
export type Pixels = PixelSource | Uint8Array;

export const WINDOW_BYTES = 4 * 1024 * 1024;
/** Segment files a SegmentPixelSource keeps open at once (a 1M-image cache has thousands of segments). */
export const MAX_OPEN_FILES = 64;

function checkRows(rows: ArrayLike<number>, n: number, out: Uint8Array | undefined, rowBytes: number): Uint8Array {
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j]!;
    if (!Number.isInteger(r) || r < 0 || r >= n)
      throw new RangeError(`pixel row ${r} is out of range: the source holds rows 0 to ${n - 1}`);
  }
  const need = rows.length * rowBytes;
  if (!out) return new Uint8Array(need);
  if (out.length < need) throw new RangeError(`pixel read: output holds ${out.length} bytes, ${need} needed`);
  return out;
}

export class MemoryPixelSource implements PixelSource {
  readonly n: number;
  constructor(
    readonly pixels: Uint8Array,
    readonly rowBytes: number,
  ) {
    if (!(rowBytes > 0)) throw new RangeError(`pixel rows of ${rowBytes} bytes`);
    this.n = Math.floor(pixels.length / rowBytes);
  }
  read(rows: ArrayLike<number>, out?: Uint8Array): Uint8Array {
    const o = checkRows(rows, this.n, out, this.rowBytes),
      rb = this.rowBytes;
    for (let j = 0; j < rows.length; j++) o.set(this.pixels.subarray(rows[j]! * rb, (rows[j]! + 1) * rb), j * rb);
    return o;
  }
  close(): void {}
}

/** Where a row lives: byte offset in one of the segment files; file -1 = no row (an undecodable image: zeros). */
export interface RowPlace {
  file: number;
  offset: number;
}

export class SegmentPixelSource implements PixelSource {
  readonly n: number;
  private readonly fileOf: Int32Array;
  private readonly offsetOf: Float64Array;
  /** open descriptors by file, in least-recently-read order (a Map keeps insertion order) */
  private readonly open = new Map<number, number>();
  private closed = false;
  private readonly window: Buffer;

  /**
   * files: segment paths; place(i): where row i is. Every file is checked now to hold every row it is asked for;
   * at most MAX_OPEN_FILES stay open at once (the least recently read is closed first).
   */
  constructor(
    readonly files: readonly string[],
    n: number,
    readonly rowBytes: number,
    place: (i: number) => RowPlace,
    windowBytes = WINDOW_BYTES,
  ) {
    this.n = n;
    this.fileOf = new Int32Array(n);
    this.offsetOf = new Float64Array(n);
    this.window = Buffer.allocUnsafe(Math.max(rowBytes, windowBytes - (windowBytes % rowBytes)));
    const end = new Float64Array(files.length);
    for (let i = 0; i < n; i++) {
      const p = place(i);
      if (p.file >= files.length) throw new RangeError(`pixel row ${i}: segment ${p.file} of ${files.length}`);
      this.fileOf[i] = p.file;
      this.offsetOf[i] = p.offset;
      if (p.file >= 0) end[p.file] = Math.max(end[p.file]!, p.offset + rowBytes);
    }
    files.forEach((f, k) => {
      const size = fs.statSync(f).size;
      if (size < end[k]!)
        throw new Error(
          `pixel cache segment ${f} is ${size} bytes, shorter than its rows need (${end[k]}): it is damaged; delete it (or its folder) and the images are decoded again`,
        );
    });
  }

  /** Bytes this source keeps in memory (row index + read window), for the memory notes. */
  get residentBytes(): number {
    return this.fileOf.byteLength + this.offsetOf.byteLength + this.window.byteLength;
  }

  read(rows: ArrayLike<number>, out?: Uint8Array): Uint8Array {
    const o = checkRows(rows, this.n, out, this.rowBytes),
      rb = this.rowBytes,
      m = rows.length;
    // read in disk order; a run of rows adjacent on disk is one read (straight into `out` when its slots
    // there are adjacent too, else through the window)
    const order = Int32Array.from({ length: m }, (_, j) => j).sort((a, b) => {
      const fa = this.fileOf[rows[a]!]!,
        fb = this.fileOf[rows[b]!]!;
      return fa !== fb ? fa - fb : this.offsetOf[rows[a]!]! - this.offsetOf[rows[b]!]!;
    });
    const perWindow = this.window.length / rb;
    let s = 0;
    while (s < m) {
      const j0 = order[s]!,
        f = this.fileOf[rows[j0]!]!,
        off = this.offsetOf[rows[j0]!]!;
      if (f < 0) {
        o.fill(0, j0 * rb, (j0 + 1) * rb);
        s++;
        continue;
      }
      let e = s + 1,
        slotsAdjacent = true;
      while (
        e < m &&
        e - s < perWindow &&
        this.fileOf[rows[order[e]!]!] === f &&
        this.offsetOf[rows[order[e]!]!] === off + (e - s) * rb
      ) {
        if (order[e] !== order[e - 1]! + 1) slotsAdjacent = false;
        e++;
      }
      const len = (e - s) * rb;
      if (slotsAdjacent) this.readExact(f, o, j0 * rb, len, off);
      else {
        this.readExact(f, this.window, 0, len, off);
        for (let t = s; t < e; t++) o.set(this.window.subarray((t - s) * rb, (t - s + 1) * rb), order[t]! * rb);
      }
      s = e;
    }
    return o;
  }

  private fd(f: number): number {
    if (this.closed) throw new Error(`pixel source is closed (${this.files[f]})`);
    let fd = this.open.get(f);
    if (fd !== undefined) {
      this.open.delete(f);
      this.open.set(f, fd);
      return fd;
    }
    if (this.open.size >= MAX_OPEN_FILES) {
      const [old, ofd] = this.open.entries().next().value as [number, number];
      this.open.delete(old);
      fs.closeSync(ofd);
    }
    try {
      fd = fs.openSync(this.files[f]!, 'r');
    } catch (e) {
      throw new Error(
        `pixel cache segment ${this.files[f]} cannot be opened (${(e as NodeJS.ErrnoException).code ?? String(e)}): was the cache folder cleared during the run? Start the run again`,
      );
    }
    this.open.set(f, fd);
    return fd;
  }

  private readExact(f: number, buf: Uint8Array, at: number, len: number, pos: number): void {
    const fd = this.fd(f);
    let got = 0;
    while (got < len) {
      const r = fs.readSync(fd, buf, at + got, len - got, pos + got);
      if (r === 0)
        throw new Error(
          `pixel cache segment ${this.files[f]} ended after ${pos + got} bytes, ${len - got} short of its rows: it is damaged; delete it (or its folder) and the images are decoded again`,
        );
      got += r;
    }
  }

  /** Files open now (at most MAX_OPEN_FILES). */
  get openFiles(): number {
    return this.open.size;
  }

  close(): void {
    for (const fd of this.open.values()) fs.closeSync(fd);
    this.open.clear();
    this.closed = true;
  }
}

/** Rows of either form of pixels, packed (a fresh array, or `out`). */
export function readRows(px: Pixels, rows: ArrayLike<number>, rowBytes: number, out?: Uint8Array): Uint8Array {
  return px instanceof Uint8Array ? new MemoryPixelSource(px, rowBytes).read(rows, out) : px.read(rows, out);
}
