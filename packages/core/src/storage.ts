import { SkvqError } from './errors.js';
import type { AttentionAttrs, MaybePromise } from './kernels.js';
import type { ChannelBlockLayout, QuantLayout, TokenGroupLayout } from './layout.js';

/**
 * Backend-owned KV storage (DESIGN.md, "Storage"). A cache never allocates the bytes it
 * holds: it asks its backend's storage for buffers, keeps the bookkeeping (which token is
 * in which buffer at which offset, what the policy decided) and hands the kernels views of
 * those buffers. Host storage (CPU backends) gives buffers with a host array, and the cache
 * passes the kernels plain typed arrays over them, exactly as before. Device storage
 * (WebGPU, CUDA, gpu.js) gives opaque buffers: tokens are written once when appended,
 * quantized where they already live, attended in place and read back only for save,
 * inspect and tests. So a decode step moves the query, the new token and the output:
 * nothing proportional to the context.
 */

/** Bytes a backend allocated where its kernels run. */
export interface StoreBuffer {
  readonly byteLength: number;
  /**
   * The bytes as a host array when they live in host memory (host storage only). Device
   * buffers have none: only the storage that made them can read or write them.
   */
  readonly host?: Uint8Array;
}

/**
 * A byte range of one store buffer (where a page, a window part or a row block lives).
 * Offsets and lengths are any byte counts: caches place codes at row-size steps and
 * metadata at unit-size steps (2 bytes for one fp8 scale/zero pair), so a device storage
 * handles ranges that are not whole 4-byte words (the store conformance suite checks it).
 */
export interface StoreView {
  readonly buffer: StoreBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** What a buffer will hold; device storage may place each kind differently. */
export type StorePurpose = 'codes' | 'meta' | 'fp';

/** Cumulative bytes a backend moved between host and device (zeros for host storage). */
export interface TransferStats {
  bytesToDevice: number;
  bytesFromDevice: number;
}

/** Full-precision rows in a store: [count, channels] in original channel order. */
export interface StoreRows {
  readonly view: StoreView;
  readonly precision: 'fp32' | 'fp16';
}

/** Full-precision tokens held in a store (sinks, window parts, kept tokens, pending blocks). */
export interface StoreFpSegment {
  readonly kind: 'fp';
  readonly count: number;
  readonly precision: 'fp32' | 'fp16';
  /** [>= count, channels] rows of `precision`, original channel order. */
  readonly data: StoreView;
  readonly positions: Int32Array;
}

/** Quantized tokens held in a store: codes and metadata laid out exactly as on the host. */
export interface StorePackedSegment {
  readonly kind: 'packed';
  readonly count: number;
  readonly layout: QuantLayout;
  /** Codes of the segment's first token onwards (rowCodeBytes per token). */
  readonly codes: StoreView;
  /** Metadata of the segment's first unit onwards (metaBytesPerUnit per unit). */
  readonly meta: StoreView;
  readonly positions: Int32Array;
}

export type StoreSegment = StoreFpSegment | StorePackedSegment;

/** The attention job of core's `AttendInputs`, over segments held in the backend's stores. */
export interface StoreAttendInputs {
  /** [rows, queryHeads * headDim], pre-RoPE, on the host (uploaded per call). */
  q: Float32Array;
  start: number;
  rows: number;
  causal: boolean;
  keys: readonly StoreSegment[];
  values: readonly StoreSegment[];
  length: number;
  /** Optional host accumulator (heavy-hitter filter rules only; it is O(length) to read). */
  attentionSums?: Float32Array;
}

/**
 * Quantize `count` tokens (token-group layout) into a page in the store. `x` is either host
 * rows (a prefill's tokens that never enter the window: uploaded once) or rows already in
 * the store (tokens leaving the window: nothing crosses to the device).
 */
export interface StoreQuantizeTokensInputs {
  layout: TokenGroupLayout;
  x: Float32Array | StoreRows;
  count: number;
  /** Where token 0's codes go (count * rowCodeBytes bytes). */
  codes: StoreView;
  /** Where token 0's metadata goes (count * metaBytesPerUnit bytes). */
  meta: StoreView;
}

/** Quantize one block of `layout.blockTokens` tokens per channel into a page in the store. */
export interface StoreQuantizeBlockInputs {
  layout: ChannelBlockLayout;
  /** [blockTokens, channels], natural channel order. */
  x: Float32Array | StoreRows;
  codes: StoreView;
  meta: StoreView;
}

/** The kernels of a device storage: the host kernels' jobs over store views. */
export interface StoreKernels {
  quantizeTokens?(inputs: StoreQuantizeTokensInputs): MaybePromise<void>;
  quantizeBlock?(inputs: StoreQuantizeBlockInputs): MaybePromise<void>;
  /** Returns [rows, queryHeads * headDim] on the host. */
  attend(inputs: StoreAttendInputs, attrs: AttentionAttrs): MaybePromise<Float32Array>;
}

/**
 * Where a backend keeps KV bytes. Writes and copies are queued in order with the kernels
 * (a later kernel sees them); reads see every earlier write, copy and kernel.
 */
export interface BackendStorage {
  /**
   * 'host': every buffer has `host` and the cache calls the backend's ordinary kernels with
   * typed arrays over it. 'device': buffers are opaque and the cache calls `kernels`.
   */
  readonly residence: 'host' | 'device';
  /** A zero-filled buffer of `byteLength` bytes (a multiple of 4). */
  allocate(byteLength: number, purpose: StorePurpose): StoreBuffer;
  /**
   * Copies host bytes into `buffer` at `byteOffset` (counts toward bytesToDevice). `data` is
   * taken at the call: the caller may reuse or change it as soon as write returns.
   */
  write(buffer: StoreBuffer, byteOffset: number, data: Uint8Array): void;
  /** Copies bytes between two buffers of this storage, without leaving the device. */
  copy(src: StoreView, dst: StoreBuffer, dstOffset: number): void;
  /**
   * The bytes of `src` on the host (counts toward bytesFromDevice). A storage that returns a
   * promise makes the synchronous saveCache refuse (STORAGE_READ_ASYNC; saveCacheAsync works).
   */
  read(src: StoreView): MaybePromise<Uint8Array>;
  /** Frees a buffer; it must not be used afterwards. */
  release(buffer: StoreBuffer): void;
  transferStats(): TransferStats;
  /** Required when residence is 'device'. */
  readonly kernels?: StoreKernels;
}

export const NO_TRANSFERS: Readonly<TransferStats> = Object.freeze({
  bytesToDevice: 0,
  bytesFromDevice: 0,
});

function checkByteLength(byteLength: number): void {
  if (!Number.isSafeInteger(byteLength) || byteLength < 0 || byteLength % 4 !== 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `storage: byteLength must be a non-negative multiple of 4, got ${String(byteLength)}`,
    );
  }
}

/** The host array of `view`, or a typed error when the view lives on a device. */
export function hostBytes(view: StoreView): Uint8Array {
  const host = view.buffer.host;
  if (host === undefined) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      'storage: this view lives in device memory; read it through its storage',
    );
  }
  return host.subarray(view.byteOffset, view.byteOffset + view.byteLength);
}

export interface HostStorageOptions {
  /**
   * Allocate SharedArrayBuffer-backed buffers (worker threads read the stores in place).
   * Needs SharedArrayBuffer (Node; browsers only when cross-origin isolated).
   */
  shared?: boolean;
}

/** Host memory: buffers are typed arrays, nothing is transferred, reads are immediate. */
export function hostStorage(options: HostStorageOptions = {}): BackendStorage {
  const shared = options.shared === true;
  if (shared && typeof SharedArrayBuffer !== 'function') {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      'storage: SharedArrayBuffer is not available here (browsers need cross-origin isolation)',
    );
  }
  return {
    residence: 'host',
    allocate(byteLength) {
      checkByteLength(byteLength);
      const bytes = shared ? new SharedArrayBuffer(byteLength) : new ArrayBuffer(byteLength);
      return { byteLength, host: new Uint8Array(bytes) };
    },
    write(buffer, byteOffset, data) {
      hostBytes({ buffer, byteOffset, byteLength: data.byteLength }).set(data);
    },
    copy(src, dst, dstOffset) {
      hostBytes({ buffer: dst, byteOffset: dstOffset, byteLength: src.byteLength }).set(
        hostBytes(src),
      );
    },
    read(src) {
      return hostBytes(src).slice();
    },
    release() {},
    transferStats: () => ({ ...NO_TRANSFERS }),
  };
}

const DEFAULT_HOST_STORAGE = hostStorage();

/** The storage a backend keeps its KV bytes in: its own, else plain host memory. */
export function backendStorage(backend: { readonly storage?: BackendStorage }): BackendStorage {
  const storage = backend.storage ?? DEFAULT_HOST_STORAGE;
  if (storage.residence === 'device' && storage.kernels === undefined) {
    throw new SkvqError(
      'INVALID_PLUGIN',
      'storage: a device storage must provide kernels (attend, and quantize for its layouts)',
    );
  }
  return storage;
}

/** Cumulative host<->device bytes of a backend (zeros when it reports none). */
export function transferStatsOf(backend: {
  transferStats?(): TransferStats;
  readonly storage?: BackendStorage;
}): TransferStats {
  const stats = backend.transferStats?.() ?? backend.storage?.transferStats() ?? NO_TRANSFERS;
  return { bytesToDevice: stats.bytesToDevice, bytesFromDevice: stats.bytesFromDevice };
}
