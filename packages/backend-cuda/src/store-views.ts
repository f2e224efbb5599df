import {
  SkvqError,
  type StoreBuffer,
  type StorePurpose,
  type StoreRows,
  type StoreView,
} from '@skvq/core';
import type { DeviceBuffer } from './device.js';

/**
 * A buffer of the CUDA storage: opaque to the cache (no `host`), device memory behind it.
 * `owner` is the storage that made it: views of another storage's buffers are refused.
 */
export class CudaStoreBuffer implements StoreBuffer {
  released = false;

  constructor(
    readonly owner: object,
    readonly id: number,
    readonly byteLength: number,
    readonly purpose: StorePurpose,
    readonly allocation: DeviceBuffer,
  ) {}
}

/** A checked view: its buffer and the device address of its first byte. */
export interface ResolvedView {
  readonly buffer: CudaStoreBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly address: bigint;
}

function fail(message: string): never {
  throw new SkvqError('INVALID_ARGUMENT', message);
}

/** Throws unless `buffer` is a live buffer of storage `owner`. */
export function liveBuffer(owner: object, buffer: StoreBuffer, where: string): CudaStoreBuffer {
  if (!(buffer instanceof CudaStoreBuffer) || buffer.owner !== owner) {
    fail(`${where}: the buffer was not allocated by this cuda storage`);
  }
  if (buffer.released || buffer.allocation.disposed) {
    fail(`${where}: the buffer was released (or its device disposed); allocate a new one`);
  }
  return buffer;
}

/** Checks a byte range of `buffer` and gives its device address. */
export function resolveRange(
  owner: object,
  buffer: StoreBuffer,
  byteOffset: number,
  byteLength: number,
  where: string,
): ResolvedView {
  const live = liveBuffer(owner, buffer, where);
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) {
    fail(`${where}: byteOffset must be a non-negative integer, got ${String(byteOffset)}`);
  }
  if (!Number.isSafeInteger(byteLength) || byteLength < 0) {
    fail(`${where}: byteLength must be a non-negative integer, got ${String(byteLength)}`);
  }
  if (byteOffset + byteLength > live.byteLength) {
    fail(
      `${where}: ${byteLength} bytes at offset ${byteOffset} do not fit in a buffer of ${live.byteLength} bytes`,
    );
  }
  return {
    buffer: live,
    byteOffset,
    byteLength,
    address: live.allocation.ptr + BigInt(byteOffset),
  };
}

/**
 * Checks that `view` holds at least `needed` bytes and starts at a multiple of `align`
 * (the kernels read fp32 rows as floats and fp16 rows as halves), and resolves it.
 */
export function resolveView(
  owner: object,
  view: StoreView,
  needed: number,
  align: number,
  what: string,
  where: string,
): ResolvedView {
  const resolved = resolveRange(owner, view.buffer, view.byteOffset, view.byteLength, where);
  if (view.byteLength < needed) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${where}: ${what} view has ${view.byteLength} bytes; ${needed} are needed`,
    );
  }
  if (view.byteOffset % align !== 0) {
    fail(
      `${where}: ${what} view starts at byte ${view.byteOffset}; it must be a multiple of ${align}`,
    );
  }
  return resolved;
}

/** Bytes per element of full-precision rows. */
export function precisionBytes(precision: 'fp32' | 'fp16'): 4 | 2 {
  return precision === 'fp32' ? 4 : 2;
}

/** Resolves `count` rows of `channels` full-precision values held in a store. */
export function resolveRows(
  owner: object,
  rows: StoreRows,
  count: number,
  channels: number,
  where: string,
): ResolvedView {
  if (rows.precision !== 'fp32' && rows.precision !== 'fp16') {
    fail(`${where}: rows precision must be 'fp32' or 'fp16', got ${String(rows.precision)}`);
  }
  const size = precisionBytes(rows.precision);
  return resolveView(
    owner,
    rows.view,
    count * channels * size,
    size,
    `x (${rows.precision} rows)`,
    where,
  );
}
