import { SkvqError } from '@skvq/core';
import type { CudaDevice, DeviceBuffer } from './device.js';
import type { DeviceLayout } from './device-layout.js';
import { SEGMENT_KIND } from './layout-codes.js';
import type { DevicePointer } from './params.js';

/** Bytes of one segment descriptor (struct SegDesc in src/cuda/common.cuh). */
export const SEGMENT_DESCRIPTOR_BYTES = 64;
/**
 * Location word: segment index in the top 12 bits, row in the low 20 (attention.cu
 * SKVQ_LOC_SEGMENT_SHIFT). 4096 segments cover a 1M-token cache in 256-token pages.
 */
export const LOCATION_SEGMENT_SHIFT = 20;
export const MAX_SEGMENTS = 1 << (32 - LOCATION_SEGMENT_SHIFT);
export const MAX_SEGMENT_ROWS = 1 << LOCATION_SEGMENT_SHIFT;

/** The location word of row `row` of segment `segment`. */
export function locationWord(segment: number, row: number): number {
  return ((segment << LOCATION_SEGMENT_SHIFT) | row) >>> 0;
}

/**
 * One segment of keys or values resident on the device: whole buffers, or addresses inside
 * them (a store view's buffer plus its byte offset).
 */
export type DeviceSegment =
  | { kind: 'fp32' | 'fp16'; data: DevicePointer }
  | { kind: 'packed'; layout: DeviceLayout; codes: DevicePointer; meta: DevicePointer };

/** Packs the descriptors of `segments` (struct SegDesc, little-endian). */
export function packSegmentDescriptors(segments: readonly DeviceSegment[]): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_DESCRIPTOR_BYTES * Math.max(segments.length, 1));
  const view = new DataView(bytes.buffer);
  segments.forEach((segment, i) => {
    const at = i * SEGMENT_DESCRIPTOR_BYTES;
    if (segment.kind !== 'packed') {
      view.setBigUint64(at, segment.data.ptr, true);
      view.setInt32(at + 32, segment.kind === 'fp32' ? SEGMENT_KIND.fp32 : SEGMENT_KIND.fp16, true);
      return;
    }
    const { layout, codes, meta } = segment;
    const n = layout.numbers;
    view.setBigUint64(at, codes.ptr, true);
    view.setBigUint64(at + 8, meta.ptr, true);
    view.setBigUint64(at + 16, layout.perm?.ptr ?? 0n, true);
    view.setBigUint64(at + 24, layout.groupOf?.ptr ?? 0n, true);
    view.setInt32(
      at + 32,
      layout.layout.kind === 'token-group' ? SEGMENT_KIND.tokenGroup : SEGMENT_KIND.channelBlock,
      true,
    );
    view.setInt32(at + 36, n.bitsCode, true);
    view.setInt32(at + 40, n.metaCode, true);
    view.setInt32(at + 44, n.rowBytes, true);
    view.setInt32(at + 48, n.metaBytes, true);
    view.setInt32(at + 52, n.blockTokens, true);
  });
  return bytes;
}

/**
 * Location word of every position in [0, length): which segment holds it and at which
 * row. Throws unless the segments hold every position exactly once (the contract of
 * AttendDecodeInputs in core/src/kernels.ts).
 */
export function buildLocations(
  positions: readonly Int32Array[],
  counts: readonly number[],
  length: number,
  stream: string,
): Uint32Array {
  if (positions.length > MAX_SEGMENTS) {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `${stream}: ${positions.length} segments; the cuda backend supports at most ${MAX_SEGMENTS}`,
    );
  }
  const UNSET = 0xffffffff;
  const loc = new Uint32Array(length).fill(UNSET);
  positions.forEach((pos, s) => {
    const count = counts[s]!;
    if (count > MAX_SEGMENT_ROWS) {
      throw new SkvqError(
        'UNSUPPORTED_OPTION',
        `${stream}: segment ${s} has ${count} rows; the cuda backend supports at most ${MAX_SEGMENT_ROWS}`,
      );
    }
    if (pos.length < count) {
      throw new SkvqError(
        'SHAPE_MISMATCH',
        `${stream}: segment ${s} has ${pos.length} positions for ${count} tokens`,
      );
    }
    for (let r = 0; r < count; r++) {
      const p = pos[r]!;
      if (!(p >= 0 && p < length)) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${stream}: segment ${s} row ${r} has position ${p}; expected 0..${length - 1}`,
        );
      }
      if (loc[p] !== UNSET) {
        throw new SkvqError('INVALID_ARGUMENT', `${stream}: position ${p} is stored twice`);
      }
      loc[p] = locationWord(s, r);
    }
  });
  const missing = loc.indexOf(UNSET);
  if (missing >= 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${stream}: position ${missing} of ${length} is in no segment; segments must cover 0..${length - 1}`,
    );
  }
  return loc;
}

/** Where a stream's descriptors and locations live on the device (what attention reads). */
export interface DeviceSegmentTable {
  readonly descriptors: DevicePointer;
  readonly locations: DevicePointer;
}

/** Descriptors and locations of one stream (keys or values) on the device. */
export class SegmentTable implements DeviceSegmentTable {
  readonly descriptors: DeviceBuffer;
  readonly locations: DeviceBuffer;

  constructor(device: CudaDevice, segments: readonly DeviceSegment[], locations: Uint32Array) {
    this.descriptors = device.upload(packSegmentDescriptors(segments));
    this.locations = device.upload(locations);
  }

  dispose(): void {
    this.descriptors.dispose();
    this.locations.dispose();
  }
}
