import type { BackendStorage, KvSegment, StoreBuffer, StoreSegment, StoreView } from '@skvq/core';

/**
 * Puts host segments (a cacheFixture) into a device storage the way a cache would hold
 * them: each segment's bytes at a nonzero offset inside a larger buffer, so the kernels
 * must honour view offsets (and never bind at 256-byte aligned offsets).
 */

/** Bytes a view is placed after (4-aligned, not 16- or 256-aligned). */
export const LEAD = 36;

export function bytesOf(a: Float32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A buffer holding `data` at byte LEAD (+ `lead`), with spare bytes after; returns its view. */
export function place(storage: BackendStorage, data: Uint8Array, lead = LEAD): StoreView {
  const size = Math.ceil((lead + data.byteLength + 24) / 4) * 4;
  const buffer: StoreBuffer = storage.allocate(size, 'codes');
  // Fill the surroundings so a kernel reading outside its view would read garbage.
  const junk = new Uint8Array(size).fill(0xa5);
  storage.write(buffer, 0, junk);
  storage.write(buffer, lead, data);
  return { buffer, byteOffset: lead, byteLength: data.byteLength };
}

export function toStore(storage: BackendStorage, seg: KvSegment): StoreSegment {
  if (seg.kind === 'fp') {
    const elements = seg.data.length;
    return {
      kind: 'fp',
      count: seg.count,
      precision: seg.precision,
      data: place(storage, bytesOf(seg.data.subarray(0, elements))),
      positions: seg.positions,
    };
  }
  return {
    kind: 'packed',
    count: seg.count,
    layout: seg.layout,
    codes: place(storage, seg.codes),
    meta: place(storage, seg.meta, LEAD + 8),
    positions: seg.positions,
  };
}
