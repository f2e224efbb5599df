import { SkvqError, type StoreBuffer, type StorePurpose, type StoreView } from '@skvq/core';
import type { KernelResult } from '../context.js';

/** Most 16-bit words one store buffer holds: every word index stays an exact float32. */
export const MAX_BUFFER_WORDS = 1 << 24;
/** Largest store buffer in bytes (2^24 words of two bytes: 32 MiB). */
export const MAX_STORE_BUFFER_BYTES = 2 * MAX_BUFFER_WORDS;

/**
 * A buffer of a gpu.js storage: its bytes as a texture of 16-bit words (one float32 per
 * word, see sources/store-bytes.ts) on the device in GL modes, or the array gpu.js's cpu
 * and webasm modes return in their place. Capacity is a power of two of words (kernels
 * compile per output size), at least byteLength / 2.
 */
export class GpujsStoreBuffer implements StoreBuffer {
  released = false;
  constructor(
    readonly owner: object,
    readonly byteLength: number,
    readonly capacity: number,
    readonly purpose: StorePurpose,
    public texture: KernelResult,
  ) {}
}

/** The buffer of `view` as this storage's own, live buffer, after checking the range. */
export function ownView(owner: object, view: StoreView, where: string): GpujsStoreBuffer {
  const buffer = ownBuffer(owner, view?.buffer, where);
  const { byteOffset, byteLength } = view;
  if (
    !Number.isSafeInteger(byteOffset) ||
    !Number.isSafeInteger(byteLength) ||
    byteOffset < 0 ||
    byteLength < 0 ||
    byteOffset + byteLength > buffer.byteLength
  ) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: view ${String(byteOffset)}+${String(byteLength)} lies outside its buffer of ${buffer.byteLength} bytes`,
    );
  }
  return buffer;
}

export function ownBuffer(owner: object, buffer: StoreBuffer, where: string): GpujsStoreBuffer {
  if (!(buffer instanceof GpujsStoreBuffer) || buffer.owner !== owner) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: the buffer was not allocated by this gpu.js storage (allowed: buffers from its allocate())`,
    );
  }
  if (buffer.released) {
    throw new SkvqError('INVALID_ARGUMENT', `${where}: the buffer was released`);
  }
  return buffer;
}
