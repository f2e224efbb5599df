import {
  META_BYTES,
  metaBytesPerUnit,
  rowCodeBytes,
  SkvqError,
  type StoreSegment,
  tokensPerMetaUnit,
} from '@skvq/core';
import { validateLayout } from '@skvq/formats';
import type { KernelResult } from '../context.js';
import { codeBase } from '../layout-table.js';
import type { SideVariant } from '../sources/store-bytes.js';
import { ownView } from './buffer.js';
import type { DeviceTables } from './device-tables.js';

const META_FORMAT_CODE = { fp32: 0, fp16: 1, fp8e4m3: 2 } as const;

/** Where each position of a stream lives (segment, row), after checking the segments. */
export interface StoreIndex {
  readonly segments: readonly StoreSegment[];
  readonly segOf: Int32Array;
  readonly rowOf: Int32Array;
}

/**
 * Checks one stream's segments (their views belong to this storage and are long enough,
 * layouts match the channels, positions cover 0 .. length-1 exactly once) and indexes it.
 */
export function indexStoreStream(
  owner: object,
  segments: readonly StoreSegment[],
  length: number,
  channels: number,
  where: string,
): StoreIndex {
  if (!Array.isArray(segments)) {
    throw new SkvqError('INVALID_ARGUMENT', `${where}: segments must be an array`);
  }
  const segOf = new Int32Array(length).fill(-1);
  const rowOf = new Int32Array(length);
  segments.forEach((seg, s) => {
    const at = `${where}[${s}]`;
    if (
      !Number.isInteger(seg?.count) ||
      seg.count < 0 ||
      !(seg.positions instanceof Int32Array) ||
      seg.positions.length < seg.count
    ) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${at}: count must be a non-negative integer and positions an Int32Array of at least count entries`,
      );
    }
    if (seg.kind === 'fp') {
      if (seg.precision !== 'fp32' && seg.precision !== 'fp16') {
        throw new SkvqError('INVALID_ARGUMENT', `${at}: precision must be 'fp32' or 'fp16'`);
      }
      ownView(owner, seg.data, `${at}.data`);
      const need = seg.count * channels * (seg.precision === 'fp32' ? 4 : 2);
      if (seg.data.byteLength < need) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${at}: data holds ${seg.data.byteLength} bytes; ${seg.count} rows of ${channels} ${seg.precision} need ${need}`,
        );
      }
    } else if (seg.kind === 'packed') {
      validateLayout(seg.layout, at);
      if (seg.layout.channels !== channels) {
        throw new SkvqError(
          'SHAPE_MISMATCH',
          `${at}: layout has ${seg.layout.channels} channels; the geometry has ${channels}`,
        );
      }
      ownView(owner, seg.codes, `${at}.codes`);
      ownView(owner, seg.meta, `${at}.meta`);
      const codes = seg.count * rowCodeBytes(seg.layout);
      const meta =
        Math.ceil(seg.count / tokensPerMetaUnit(seg.layout)) * metaBytesPerUnit(seg.layout);
      if (seg.codes.byteLength < codes || seg.meta.byteLength < meta) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${at}: ${seg.count} rows need ${codes} code bytes and ${meta} metadata bytes; the views hold ${seg.codes.byteLength} and ${seg.meta.byteLength}`,
        );
      }
    } else {
      throw new SkvqError('INVALID_ARGUMENT', `${at}: kind must be 'fp' or 'packed'`);
    }
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      if (!(p >= 0 && p < length) || segOf[p] !== -1) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${at}: position ${p} is outside 0..${length - 1} or held twice`,
        );
      }
      segOf[p] = s;
      rowOf[p] = i;
    }
  });
  const missing = segOf.indexOf(-1);
  if (missing !== -1) {
    throw new SkvqError('INVALID_ARGUMENT', `${where}: no segment holds position ${missing}`);
  }
  return { segments, segOf, rowOf };
}

/** The reader a kernel compiles for a segment (sources/store-bytes.ts storeReadJs). */
export function sideVariant(seg: StoreSegment): SideVariant {
  return seg.kind === 'fp' ? seg.precision : `packed-${seg.layout.meta}`;
}

/**
 * The twelve arguments of one stream in a store kernel (sources/store-bytes.ts sideArgs)
 * for rows row0 .. of a segment.
 */
export function sideArguments(
  seg: StoreSegment,
  row0: number,
  channels: number,
  tables: DeviceTables,
): unknown[] {
  if (seg.kind === 'fp') {
    const size = seg.precision === 'fp32' ? 4 : 2;
    const texture = (seg.data.buffer as { texture?: KernelResult }).texture;
    const rowBytes = channels * size;
    return [
      texture,
      tables.dummy,
      tables.dummy,
      seg.precision === 'fp32' ? 0 : 1,
      seg.data.byteOffset + row0 * rowBytes,
      rowBytes,
      0,
      0,
      1,
      0,
      0,
      1,
    ];
  }
  const layout = seg.layout;
  const rowBytes = rowCodeBytes(layout);
  return [
    (seg.codes.buffer as { texture?: KernelResult }).texture,
    (seg.meta.buffer as { texture?: KernelResult }).texture,
    tables.layout(layout),
    codeBase(layout.bits),
    seg.codes.byteOffset + row0 * rowBytes,
    rowBytes,
    seg.meta.byteOffset,
    row0,
    tokensPerMetaUnit(layout),
    metaBytesPerUnit(layout),
    META_FORMAT_CODE[layout.meta],
    META_BYTES[layout.meta],
  ];
}
