// The .safetensors format (Hugging Face): 8-byte little-endian header length N, N bytes of UTF-8 JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}, then the raw
// little-endian tensor bytes; offsets are relative to the byte after the header. Pure read/write: no tf.
// Every validation error names the file (when given) and what is wrong, so a bad download is recognisable.

export type SafeDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** bytes per element of each dtype we can read */
export const DTYPE_BYTES: Record<SafeDtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  /** values widened to float32 (F16/BF16/F64/integers converted; integers beyond 2^24 lose precision in float32) */
  data: Float32Array;
}

export interface SafeFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** Header-only view: names, dtypes, shapes, offsets; no tensor bytes decoded. */
export interface SafeHeaderEntry {
  dtype: SafeDtype;
  shape: number[];
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Headers larger than this are refused before parsing (the reference implementation caps at 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

function where(file?: string) {
  return file ? `${file}: ` : '';
}

/** Parse and validate the header; `bytes` is the whole file. */
export function readSafetensorsHeader(
  bytes: Uint8Array,
  file?: string,
): { entries: Map<string, SafeHeaderEntry>; metadata: Record<string, string>; dataStart: number } {
  const w = where(file);
  if (bytes.length < 8)
    throw new SafetensorsError(
      `${w}not a safetensors file: ${bytes.length} bytes is shorter than the 8-byte header length (truncated or empty file)`,
    );
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > MAX_HEADER)
    throw new SafetensorsError(
      `${w}not a safetensors file: header length ${n} bytes exceeds the 100 MB limit (wrong file type?)`,
    );
  if (8 + n > bytes.length)
    throw new SafetensorsError(
      `${w}truncated or not a safetensors file: header length ${n} bytes goes beyond the file size ${bytes.length}`,
    );
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(
      `${w}not a safetensors file: the ${n}-byte header is not valid UTF-8 JSON (${(e as Error).message})`,
    );
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    throw new SafetensorsError(`${w}not a safetensors file: the header is not a JSON object`);
  const dataStart = 8 + n,
    dataLen = bytes.length - dataStart;
  const entries = new Map<string, SafeHeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw))
        throw new SafetensorsError(`${w}__metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(`${w}__metadata__.${k} is not a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') throw new SafetensorsError(`${w}tensor "${name}": header entry is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES))
      throw new SafetensorsError(
        `${w}tensor "${name}": unknown dtype ${JSON.stringify(e.dtype)} (readable: ${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new SafetensorsError(
        `${w}tensor "${name}": shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`,
      );
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0))
      throw new SafetensorsError(`${w}tensor "${name}": data_offsets ${JSON.stringify(off)} is not [begin, end]`);
    const [begin, end] = off as number[];
    if (end < begin)
      throw new SafetensorsError(`${w}tensor "${name}": data_offsets [${begin}, ${end}] end before begin`);
    if (end > dataLen)
      throw new SafetensorsError(
        `${w}truncated file: tensor "${name}" data_offsets [${begin}, ${end}] go beyond the ${dataLen} data bytes`,
      );
    const dtype = e.dtype as SafeDtype,
      shape = e.shape as number[];
    const want = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== want)
      throw new SafetensorsError(
        `${w}tensor "${name}": ${end - begin} data bytes but ${dtype} [${shape.join(', ')}] needs ${want}`,
      );
    entries.set(name, { dtype, shape, begin, end });
  }
  // offsets must not overlap (the reference implementation also requires them contiguous; we only need
  // them disjoint, so files with padding still load)
  const sorted = [...entries.entries()].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [pn, p] = sorted[i - 1],
      [cn, c] = sorted[i];
    if (c.begin < p.end)
      throw new SafetensorsError(
        `${w}corrupt file: tensors "${pn}" [${p.begin}, ${p.end}] and "${cn}" [${c.begin}, ${c.end}] overlap`,
      );
  }
  return { entries, metadata, dataStart };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 0x1f,
    f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Decode one entry's bytes to float32. */
export function decodeTensor(bytes: Uint8Array, dataStart: number, e: SafeHeaderEntry): Float32Array {
  const n = e.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + dataStart + e.begin, e.end - e.begin);
  switch (e.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const u = new Uint32Array(1),
        f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = dv.getUint16(i * 2, true) << 16;
        out[i] = f[0];
      }
      break;
    }
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = dv.getUint8(i);
      break;
  }
  return out;
}

/** Read a whole file's tensors (all widened to float32) and metadata. */
export function readSafetensors(bytes: Uint8Array, file?: string): SafeFile {
  const { entries, metadata, dataStart } = readSafetensorsHeader(bytes, file);
  const tensors = new Map<string, SafeTensor>();
  for (const [name, e] of entries)
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: decodeTensor(bytes, dataStart, e) });
  return { tensors, metadata };
}

export interface WriteTensor {
  shape: number[];
  data: Float32Array | BigInt64Array;
  dtype?: 'F32' | 'I64';
}

/** Write F32 (and I64, e.g. BN num_batches_tracked) tensors; keys are written in the map's order. */
export function writeSafetensors(
  tensors: Map<string, WriteTensor> | Record<string, WriteTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" cannot be a tensor name');
    const dtype = t.dtype ?? (t.data instanceof BigInt64Array ? 'I64' : 'F32');
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new SafetensorsError(
        `tensor "${name}": shape [${t.shape.join(', ')}] has ${n} elements, data has ${t.data.length}`,
      );
    if ((dtype === 'I64') !== t.data instanceof BigInt64Array)
      throw new SafetensorsError(`tensor "${name}": dtype ${dtype} does not match its data array`);
    const nb = n * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + nb] };
    off += nb;
  }
  let json = JSON.stringify(header);
  // pad the header with spaces to a multiple of 8 so the data is 8-byte aligned (as the reference writer does)
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const [, t] of list) {
    if (t.data instanceof BigInt64Array) {
      for (let i = 0; i < t.data.length; i++, p += 8) dv.setBigInt64(p, t.data[i], true);
    } else {
      for (let i = 0; i < t.data.length; i++, p += 4) dv.setFloat32(p, t.data[i], true);
    }
  }
  return out;
}
