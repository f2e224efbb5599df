import {
  type BackendPlugin,
  type BackendStorage,
  backendStorage,
  type MaybePromise,
  SkvqError,
  type StoreBuffer,
  type StorePurpose,
  type StoreRows,
  type StoreView,
} from '@skvq/core';
import { decodeF16Array, encodeF16Array } from '@skvq/formats';

/**
 * The backend's storage as one cache uses it (core storage.ts). Every byte a cache holds is
 * a StoreBuffer from here. With host residence the parts of the cache build typed arrays
 * over `buffer.host` once, when they allocate, and call the backend's ordinary kernels as
 * before; with device residence they keep only the buffers and hand the storage's kernels
 * views. Sizes are rounded up to whole 4-byte words (the contract's unit); the padding is
 * allocated, so it counts as slack in bytes().
 */
export class CacheStore {
  readonly storage: BackendStorage;
  /** True when buffers are opaque (no host array): the cache calls `storage.kernels`. */
  readonly device: boolean;

  constructor(backend: BackendPlugin) {
    this.storage = backendStorage(backend);
    this.device = this.storage.residence === 'device';
  }

  allocate(byteLength: number, purpose: StorePurpose): StoreBuffer {
    return this.storage.allocate(Math.ceil(byteLength / 4) * 4, purpose);
  }

  release(buffer: StoreBuffer | null | undefined): void {
    if (buffer != null) this.storage.release(buffer);
  }

  write(buffer: StoreBuffer, byteOffset: number, data: Uint8Array): void {
    if (data.byteLength > 0) this.storage.write(buffer, byteOffset, data);
  }

  copy(src: StoreView, dst: StoreBuffer, dstOffset: number): void {
    if (src.byteLength > 0) this.storage.copy(src, dst, dstOffset);
  }

  read(view: StoreView): MaybePromise<Uint8Array> {
    return this.storage.read(view);
  }
}

/**
 * The store of a cache's backend; a value that is not a backend with kernels is the typed
 * error the kernels would give (checked first, before its storage is looked at).
 */
export function cacheStoreOf(backend: BackendPlugin): CacheStore {
  if (backend === null || typeof backend !== 'object' || typeof backend.kernels !== 'object') {
    throw new SkvqError('INVALID_PLUGIN', `cache: backend must be a BackendPlugin with kernels`);
  }
  return new CacheStore(backend);
}

export function viewOf(buffer: StoreBuffer, byteOffset: number, byteLength: number): StoreView {
  return { buffer, byteOffset, byteLength };
}

/** The host array of a host-storage buffer, as a Uint8Array of `byteLength` bytes. */
export function hostU8(buffer: StoreBuffer, byteLength: number): Uint8Array {
  const host = buffer.host!;
  return host.subarray(0, byteLength);
}

/**
 * Float32 rows src[srcRow .. srcRow+rows) as the bytes of `precision` rows (what a device
 * store holds): O(rows) host work, no copy for fp32 when src is already aligned.
 */
export function encodeRows(
  precision: 'fp32' | 'fp16',
  src: Float32Array,
  srcRow: number,
  rows: number,
  channels: number,
): Uint8Array {
  const n = rows * channels;
  const from = srcRow * channels;
  if (precision === 'fp32') {
    const part = src.subarray(from, from + n);
    return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  }
  const out = new Uint16Array(n);
  encodeF16Array(src, from, out, 0, n);
  return new Uint8Array(out.buffer);
}

/** Stored bytes of `precision` rows back to float32 (host-side checks of what was stored). */
export function decodeRows(precision: 'fp32' | 'fp16', bytes: Uint8Array): Float32Array {
  const copy = bytes.slice();
  if (precision === 'fp32') return new Float32Array(copy.buffer);
  const bits = new Uint16Array(copy.buffer);
  const out = new Float32Array(bits.length);
  decodeF16Array(bits, 0, out, 0, bits.length);
  return out;
}

/**
 * Full-precision rows in a store, possibly split in parts (a window ring wraps): the rows
 * that leave the window on a device, handed to quantize kernels (StoreRows) or copied into
 * kept pages and pending blocks, without reaching the host.
 */
export class StoreRowParts {
  readonly count: number;

  constructor(
    readonly parts: readonly StoreView[],
    readonly precision: 'fp32' | 'fp16',
    readonly rowBytes: number,
  ) {
    this.count = parts.reduce((n, p) => n + p.byteLength / rowBytes, 0);
  }

  /** Rows [first, first+rows) as parts of their own (each part a contiguous view). */
  slice(first: number, rows: number): StoreRowParts {
    const out: StoreView[] = [];
    let skip = first;
    let left = rows;
    for (const part of this.parts) {
      const partRows = part.byteLength / this.rowBytes;
      if (skip >= partRows) {
        skip -= partRows;
        continue;
      }
      const n = Math.min(left, partRows - skip);
      if (n > 0) {
        out.push(viewOf(part.buffer, part.byteOffset + skip * this.rowBytes, n * this.rowBytes));
      }
      left -= n;
      skip = 0;
      if (left === 0) break;
    }
    return new StoreRowParts(out, this.precision, this.rowBytes);
  }

  /** Each part as StoreRows with its row count (one quantize call per part). */
  rows(): { rows: StoreRows; count: number }[] {
    return this.parts.map((view) => ({
      rows: { view, precision: this.precision },
      count: view.byteLength / this.rowBytes,
    }));
  }

  /** Copies the rows into `dst` from `dstOffset` on (storage.copy, device to device). */
  copyTo(store: CacheStore, dst: StoreBuffer, dstOffset: number): void {
    let at = dstOffset;
    for (const part of this.parts) {
      store.copy(part, dst, at);
      at += part.byteLength;
    }
  }
}

/** Rows moved out of the window: host float32, or rows already in a device store. */
export type MoveRows = Float32Array | StoreRowParts;
