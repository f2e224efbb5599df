import { isSkvqError, type StoreSegment, type TokenGroupLayout } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import {
  CudaStoreBuffer,
  changedRanges,
  type DeviceBuffer,
  layoutKey,
  locationWord,
  type ResidentBuffer,
  ResidentBytes,
  ResidentSegmentTable,
  resolveRows,
  resolveView,
  streamTableKey,
} from '../src/internal.js';

// Host-side logic of the CUDA storage, tested without a driver: which bytes of a resident
// table are uploaded, how views are checked and turned into device addresses.

/** A device buffer stand-in holding real bytes, counting what would cross the bus. */
function fakeDevice() {
  const stats = { uploaded: 0, uploads: 0, copied: 0, allocs: 0 };
  let next = 0x1000n;
  const alloc = (bytes: number) => {
    const mem = new Uint8Array(bytes).fill(0xcd);
    const buffer: ResidentBuffer & { mem: Uint8Array } = {
      ptr: next,
      mem,
      upload(data: Uint8Array, byteOffset: number) {
        expect(byteOffset + data.length).toBeLessThanOrEqual(bytes);
        mem.set(data, byteOffset);
        stats.uploaded += data.length;
        stats.uploads++;
      },
      copyFrom(src, srcOffset, byteOffset, length) {
        const from = (src as typeof buffer).mem;
        mem.set(from.subarray(srcOffset, srcOffset + length), byteOffset);
        stats.copied += length;
      },
      dispose() {},
    };
    next += BigInt(bytes + 256);
    stats.allocs++;
    return buffer;
  };
  return { alloc, stats };
}

describe('changedRanges', () => {
  it('finds nothing in equal arrays and the exact bytes that differ otherwise', () => {
    const a = new Uint8Array(10000).map((_, i) => i & 0xff);
    expect(changedRanges(a, a.slice())).toEqual([]);
    const b = a.slice();
    b[5000] = 0;
    b[5003] = (a[5003]! ^ 1) & 0xff;
    b[9999] = (a[9999]! ^ 1) & 0xff;
    expect(changedRanges(a, b)).toEqual([
      [5000, 5004],
      [9999, 10000],
    ]);
    // Ranges closer than the merge gap become one upload.
    expect(changedRanges(a, b, 10000)).toEqual([[5000, 10000]]);
  });

  it('compares only the common length', () => {
    const a = new Uint8Array(8).fill(1);
    const b = new Uint8Array(4).fill(1);
    expect(changedRanges(a, b)).toEqual([]);
    b[3] = 2;
    expect(changedRanges(a, b)).toEqual([[3, 4]]);
  });
});

describe('ResidentBytes', () => {
  it('uploads everything once, then only what changed or was appended', () => {
    const { alloc, stats } = fakeDevice();
    const resident = new ResidentBytes(alloc);
    const words = Uint32Array.from({ length: 4096 }, (_, i) => i * 7);
    resident.update(new Uint8Array(words.buffer));
    expect(stats.uploaded).toBe(4096 * 4);
    stats.uploaded = 0;
    // A decode step: one new position (4 bytes) and one moved entry.
    const next = new Uint32Array(4097);
    next.set(words);
    next[4096] = 1;
    next[100] = 0xffffffff; // all four bytes differ from 700
    resident.update(new Uint8Array(next.buffer));
    expect(stats.uploaded).toBe(8);
  });

  it('grows on the device (D2D copy), keeping the upload to the new bytes', () => {
    const { alloc, stats } = fakeDevice();
    const resident = new ResidentBytes(alloc);
    const first = new Uint8Array(1000).map((_, i) => i % 251);
    resident.update(first);
    const bigger = new Uint8Array(5000).map((_, i) => i % 251);
    stats.uploaded = 0;
    resident.update(bigger);
    expect(stats.copied).toBe(1000);
    expect(stats.uploaded).toBe(4000);
    expect(stats.allocs).toBe(2);
  });

  it('keeps the device bytes equal to the last update through shrinking and growing', () => {
    const { alloc } = fakeDevice();
    const buffers: Array<{ mem: Uint8Array; ptr: bigint }> = [];
    const resident = new ResidentBytes((bytes) => {
      const b = alloc(bytes) as ResidentBuffer & { mem: Uint8Array };
      buffers.push(b);
      return b;
    });
    let seed = 1;
    for (let step = 0; step < 40; step++) {
      const length = 4 * (1 + ((step * 37) % 300));
      const next = new Uint8Array(length).map(() => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % 7 === 0 ? seed >>> 24 : 3;
      });
      resident.update(next);
      const live = buffers.find((b) => b.ptr === resident.ptr)!;
      expect(live.mem.subarray(0, length)).toEqual(next);
    }
  });
});

describe('ResidentSegmentTable', () => {
  it('a decode step uploads a constant number of bytes whatever the context length', () => {
    const moved = (length: number) => {
      const { alloc, stats } = fakeDevice();
      const table = new ResidentSegmentTable(alloc);
      const descriptors = new Uint8Array(64 * 3).fill(9);
      const loc = Uint32Array.from({ length }, (_, p) => p);
      table.update(descriptors, loc);
      stats.uploaded = 0;
      const next = new Uint32Array(length + 1);
      next.set(loc);
      next[length] = locationWord(2, 7);
      table.update(descriptors, next);
      return stats.uploaded;
    };
    expect(moved(4096)).toBe(4);
    expect(moved(32768)).toBe(4);
  });
});

const owner = {};
function storeBuffer(bytes: number, id = 1, ptr = 0x10000n) {
  const allocation = { ptr, disposed: false } as unknown as DeviceBuffer;
  return new CudaStoreBuffer(owner, id, bytes, 'fp', allocation);
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isSkvqError(error) ? error.code : 'not a SkvqError';
  }
  return undefined;
}

describe('store views', () => {
  it('resolve to the buffer address plus the byte offset', () => {
    const buffer = storeBuffer(1024);
    const view = resolveView(owner, { buffer, byteOffset: 256, byteLength: 512 }, 512, 4, 'x', 't');
    expect(view.address).toBe(0x10000n + 256n);
  });

  it('refuse foreign, released, out-of-range, short and misaligned views with typed errors', () => {
    const buffer = storeBuffer(1024);
    const ok = { buffer, byteOffset: 0, byteLength: 64 };
    expect(code(() => resolveView({}, ok, 64, 4, 'x', 't'))).toBe('INVALID_ARGUMENT');
    expect(
      code(() => resolveView(owner, { ...ok, buffer: { byteLength: 1024 } }, 64, 4, 'x', 't')),
    ).toBe('INVALID_ARGUMENT');
    expect(code(() => resolveView(owner, { ...ok, byteOffset: 1000 }, 64, 4, 'x', 't'))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(code(() => resolveView(owner, { ...ok, byteOffset: -4 }, 64, 4, 'x', 't'))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(code(() => resolveView(owner, ok, 128, 4, 'x', 't'))).toBe('SHAPE_MISMATCH');
    expect(code(() => resolveView(owner, { ...ok, byteOffset: 2 }, 16, 4, 'x', 't'))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(code(() => resolveView(owner, { ...ok, byteOffset: 2 }, 16, 2, 'x', 't'))).toBe(
      undefined,
    );
    buffer.released = true;
    expect(code(() => resolveView(owner, ok, 64, 4, 'x', 't'))).toBe('INVALID_ARGUMENT');
  });

  it('size rows by precision: fp16 rows need half the bytes of fp32 rows', () => {
    const buffer = storeBuffer(4 * 8 * 16);
    const view = { buffer, byteOffset: 0, byteLength: 2 * 8 * 16 };
    expect(code(() => resolveRows(owner, { view, precision: 'fp16' }, 8, 16, 't'))).toBe(undefined);
    expect(code(() => resolveRows(owner, { view, precision: 'fp32' }, 8, 16, 't'))).toBe(
      'SHAPE_MISMATCH',
    );
    expect(code(() => resolveRows(owner, { view, precision: 'bf16' as 'fp16' }, 8, 16, 't'))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('resident table keys', () => {
  it('follow the first segment of a stream, so each layer finds its own table', () => {
    const a = storeBuffer(1024, 7);
    const b = storeBuffer(1024, 8);
    const fp = (buffer: CudaStoreBuffer, byteOffset: number): StoreSegment => ({
      kind: 'fp',
      count: 1,
      precision: 'fp16',
      data: { buffer, byteOffset, byteLength: 64 },
      positions: Int32Array.of(0),
    });
    expect(streamTableKey('keys', [fp(a, 0), fp(b, 0)])).toBe('b7@0:keys');
    expect(streamTableKey('values', [fp(a, 0)])).toBe('b7@0:values');
    expect(streamTableKey('keys', [fp(a, 128)])).not.toBe(streamTableKey('keys', [fp(a, 0)]));
    expect(streamTableKey('keys', [fp(b, 0)])).not.toBe(streamTableKey('keys', [fp(a, 0)]));
  });

  it('layouts with equal fields share a key; any differing field changes it', () => {
    const base: TokenGroupLayout = {
      kind: 'token-group',
      channels: 8,
      bits: 2,
      meta: 'fp8e4m3',
      groupOffsets: Uint32Array.of(0, 4, 8),
      perm: Uint32Array.of(7, 6, 5, 4, 3, 2, 1, 0),
      alpha: 0.9,
    };
    const same = { ...base, perm: base.perm!.slice(), groupOffsets: base.groupOffsets.slice() };
    expect(layoutKey(same)).toBe(layoutKey(base));
    for (const other of [
      { ...base, bits: 3 as const },
      { ...base, meta: 'fp16' as const },
      { ...base, alpha: 1 },
      { ...base, perm: null },
      { ...base, groupOffsets: Uint32Array.of(0, 3, 8) },
    ]) {
      expect(layoutKey(other)).not.toBe(layoutKey(base));
    }
  });
});
