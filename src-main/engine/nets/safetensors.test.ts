// safetensors read/write: round trip, dtypes written by other tools (F16, BF16, I64), and every
// validation error a bad download or a wrong file produces.
import { describe, expect, it } from 'vitest';
import { readSafetensors, readSafetensorsHeader, writeSafetensors, SafetensorsError } from './safetensors';

/** A file built by hand (not by writeSafetensors), so reader bugs cannot cancel writer bugs. */
function handMade(header: object, data: Uint8Array): Uint8Array {
  const hb = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + hb.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(data, 8 + hb.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32 and I64 tensors and metadata, data 8-byte aligned', () => {
    const a = new Float32Array([1.5, -2, 3.25, Math.PI, 0, -0.125]);
    const bytes = writeSafetensors(
      new Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>([
        ['conv.weight', { shape: [2, 3], data: a }],
        ['bn.num_batches_tracked', { shape: [], data: new BigInt64Array([42n]) }],
        ['empty', { shape: [0, 4], data: new Float32Array(0) }],
      ]),
      { format: 'pt', arch: 'resnet18' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const f = readSafetensors(bytes, 'x.safetensors');
    expect(f.metadata).toEqual({ format: 'pt', arch: 'resnet18' });
    expect([...f.tensors.keys()]).toEqual(['conv.weight', 'bn.num_batches_tracked', 'empty']);
    expect(f.tensors.get('conv.weight')!.shape).toEqual([2, 3]);
    expect(Array.from(f.tensors.get('conv.weight')!.data)).toEqual(Array.from(a));
    expect(f.tensors.get('bn.num_batches_tracked')!.dtype).toBe('I64');
    expect(f.tensors.get('bn.num_batches_tracked')!.data[0]).toBe(42);
    expect(f.tensors.get('empty')!.data.length).toBe(0);
  });

  it('reads F16, BF16 and I64 written by hand', () => {
    // F16: 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, smallest subnormal 0x0001 = 2^-24
    // BF16: top half of the float32 bits: 1.0 = 0x3f80, -3.0 = 0xc040
    const data = new Uint8Array(8 + 4 + 16);
    const dv = new DataView(data.buffer);
    [0x3c00, 0xc100, 0x7bff, 0x0001].forEach((h, i) => dv.setUint16(i * 2, h, true));
    [0x3f80, 0xc040].forEach((h, i) => dv.setUint16(8 + i * 2, h, true));
    dv.setBigInt64(12, -7n, true);
    dv.setBigInt64(20, 123456n, true);
    const f = readSafetensors(
      handMade(
        {
          h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
          b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
          i: { dtype: 'I64', shape: [2, 1], data_offsets: [12, 28] },
        },
        data,
      ),
    );
    expect(Array.from(f.tensors.get('h')!.data)).toEqual([1, -2.5, 65504, 2 ** -24]);
    expect(Array.from(f.tensors.get('b')!.data)).toEqual([1, -3]);
    expect(Array.from(f.tensors.get('i')!.data)).toEqual([-7, 123456]);
  });

  const err = (bytes: Uint8Array) => {
    try {
      readSafetensors(bytes, 'w.safetensors');
    } catch (e) {
      expect(e).toBeInstanceOf(SafetensorsError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  const good = () =>
    writeSafetensors({
      a: { shape: [4], data: new Float32Array([1, 2, 3, 4]) },
      b: { shape: [2], data: new Float32Array([5, 6]) },
    });

  it('names the problem: short, header beyond file, truncated data, not JSON', () => {
    expect(err(new Uint8Array(5))).toMatch(/^w\.safetensors: .*shorter than the 8-byte header length/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1000n, true);
    expect(err(huge)).toMatch(/header length 1000 bytes goes beyond the file size 16/);
    const g = good();
    expect(err(g.subarray(0, g.length - 3))).toMatch(
      /truncated file: tensor "b" data_offsets \[16, 24\] go beyond the 21 data bytes/,
    );
    // a PNG's first 8 bytes read as a length: far beyond the file or the 100 MB cap
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    expect(err(png)).toMatch(/not a safetensors file/);
    const notJson = new Uint8Array(8 + 4);
    new DataView(notJson.buffer).setBigUint64(0, 4n, true);
    notJson.set([0x7b, 0x7b, 0x7d, 0x7d], 8);
    expect(err(notJson)).toMatch(/not valid UTF-8 JSON/);
    expect(err(handMade([1, 2] as unknown as object, new Uint8Array(0)))).toMatch(/header is not a JSON object/);
  });

  it('names the problem: overlapping / out-of-range offsets, wrong byte count, unknown dtype, bad shape', () => {
    const d = new Uint8Array(16);
    expect(
      err(
        handMade(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
          },
          d,
        ),
      ),
    ).toMatch(/tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/);
    expect(err(handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [12, 20] } }, d))).toMatch(
      /go beyond the 16 data bytes/,
    );
    expect(err(handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 4] } }, d))).toMatch(/end before begin/);
    expect(err(handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, d))).toMatch(
      /8 data bytes but F32 \[3\] needs 12/,
    );
    expect(err(handMade({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, d))).toMatch(
      /tensor "a": unknown dtype "Q4"/,
    );
    expect(err(handMade({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, d))).toMatch(
      /shape \[-2\] is not a list/,
    );
    expect(err(handMade({ a: { dtype: 'F32', shape: [2] } }, d))).toMatch(
      /data_offsets undefined is not \[begin, end\]/,
    );
    expect(err(handMade({ __metadata__: { k: 3 } }, d))).toMatch(/__metadata__\.k is not a string/);
  });

  it('header-only read does not decode data and padding between tensors is accepted', () => {
    const d = new Uint8Array(24);
    new DataView(d.buffer).setFloat32(16, 7, true);
    const h = readSafetensorsHeader(handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [16, 20] } }, d));
    expect(h.entries.get('a')).toEqual({ dtype: 'F32', shape: [1], begin: 16, end: 20 });
    expect(
      readSafetensors(handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [16, 20] } }, d)).tensors.get('a')!
        .data[0],
    ).toBe(7);
  });

  it('the writer refuses mismatched shapes', () => {
    expect(() => writeSafetensors({ a: { shape: [3], data: new Float32Array(2) } })).toThrow(
      /shape \[3\] has 3 elements, data has 2/,
    );
  });
});
