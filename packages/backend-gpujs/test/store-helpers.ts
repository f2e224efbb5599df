import type { BackendStorage, KvSegment, StoreSegment, StoreView } from '@skvq/core';

/** Bytes of a typed array (a host segment's data) as a Uint8Array over the same memory. */
export function bytesOf(a: Float32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * `data` written into a new buffer of `storage` at byte `offset` (the buffer is larger on
 * both sides, so views start and end mid-buffer, at odd offsets when offset is odd).
 */
export function storeBytes(
  storage: BackendStorage,
  data: Uint8Array,
  offset: number,
  purpose: 'codes' | 'meta' | 'fp',
): StoreView {
  const size = Math.ceil((offset + data.length + 5) / 4) * 4;
  const buffer = storage.allocate(size, purpose);
  storage.write(buffer, offset, data);
  return { buffer, byteOffset: offset, byteLength: data.length };
}

/**
 * A host segment list copied into `storage`: codes at odd offsets, metadata at offset 1
 * (so fp16 metadata straddles words), fp rows at offset 2 (fp32 rows straddle words too).
 */
export function toStoreSegments(
  storage: BackendStorage,
  segments: readonly KvSegment[],
): StoreSegment[] {
  return segments.map((seg): StoreSegment => {
    if (seg.kind === 'fp') {
      return {
        kind: 'fp',
        count: seg.count,
        precision: seg.precision,
        data: storeBytes(storage, bytesOf(seg.data), 2, 'fp'),
        positions: seg.positions,
      };
    }
    return {
      kind: 'packed',
      count: seg.count,
      layout: seg.layout,
      codes: storeBytes(storage, seg.codes, 3, 'codes'),
      meta: storeBytes(storage, seg.meta, 1, 'meta'),
      positions: seg.positions,
    };
  });
}
