import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type AttentionAttrs,
  attendKernel,
  type BackendPlugin,
  type BackendStorage,
  type KvSegment,
  SkvqError,
  type StoreAttendInputs,
  type StoreBuffer,
  type StoreKernels,
  type StoreQuantizeBlockInputs,
  type StoreQuantizeTokensInputs,
  type StoreRows,
  type StoreSegment,
  type StoreView,
  type TransferStats,
} from '@skvq/core';
import { decodeF16Array } from '@skvq/formats';

/**
 * A test backend with device-residence storage on any machine: buffers have no host array
 * (their bytes sit in a private map, as device memory would), the store kernels resolve
 * views to those private arrays and run the inner backend's host kernels, and every byte
 * that crosses the pretend host/device boundary is counted: storage writes and reads,
 * host rows handed to a quantize kernel, the query of an attention call (uploads) and its
 * output (download). Copies between buffers stay on the "device" and count nothing.
 * It lets the cache's whole device path be tested, and measured, without a GPU.
 */
export const OPAQUE_STORE_BACKEND_NAME = 'opaque-store';

export interface OpaqueStoreBackend extends BackendPlugin {
  readonly storage: BackendStorage;
  transferStats(): TransferStats;
  /** Buffers allocated and not yet released (leak checks in tests). */
  liveBuffers(): number;
}

function invalid(message: string): SkvqError {
  return new SkvqError('INVALID_ARGUMENT', `opaque-store: ${message}`);
}

/** The device-residence storage of createOpaqueStoreBackend. */
class OpaqueStorage implements BackendStorage {
  readonly residence = 'device' as const;
  readonly kernels: StoreKernels;
  private readonly bytes = new Map<StoreBuffer, Uint8Array>();
  private readonly stats: TransferStats = { bytesToDevice: 0, bytesFromDevice: 0 };

  constructor(
    private readonly inner: BackendPlugin,
    private readonly asyncReads: boolean,
  ) {
    this.kernels = {
      quantizeTokens: (inputs) => this.quantizeTokens(inputs),
      quantizeBlock: (inputs) => this.quantizeBlock(inputs),
      attend: (inputs, attrs) => this.attend(inputs, attrs),
    };
  }

  get live(): number {
    return this.bytes.size;
  }

  allocate(byteLength: number): StoreBuffer {
    if (!Number.isSafeInteger(byteLength) || byteLength < 0 || byteLength % 4 !== 0) {
      throw invalid(`byteLength must be a non-negative multiple of 4, got ${String(byteLength)}`);
    }
    // a frozen handle without `host`: only this storage can reach the bytes
    const buffer: StoreBuffer = Object.freeze({ byteLength });
    this.bytes.set(buffer, new Uint8Array(byteLength));
    return buffer;
  }

  /** The private bytes of `view` (a subarray, no copy), bounds checked. */
  private resolve(view: StoreView): Uint8Array {
    const bytes = this.bytes.get(view.buffer);
    if (bytes === undefined) throw invalid('the buffer was released or belongs to another storage');
    const { byteOffset, byteLength } = view;
    if (
      !Number.isSafeInteger(byteOffset) ||
      !Number.isSafeInteger(byteLength) ||
      byteOffset < 0 ||
      byteLength < 0 ||
      byteOffset + byteLength > bytes.length
    ) {
      throw invalid(
        `view [${byteOffset}, +${byteLength}) is outside its buffer of ${bytes.length} bytes`,
      );
    }
    return bytes.subarray(byteOffset, byteOffset + byteLength);
  }

  write(buffer: StoreBuffer, byteOffset: number, data: Uint8Array): void {
    this.resolve({ buffer, byteOffset, byteLength: data.byteLength }).set(data);
    this.stats.bytesToDevice += data.byteLength;
  }

  copy(src: StoreView, dst: StoreBuffer, dstOffset: number): void {
    const from = this.resolve(src);
    this.resolve({ buffer: dst, byteOffset: dstOffset, byteLength: src.byteLength }).set(from);
  }

  read(src: StoreView): Uint8Array | Promise<Uint8Array> {
    const out = this.resolve(src).slice();
    this.stats.bytesFromDevice += out.byteLength;
    return this.asyncReads ? Promise.resolve(out) : out;
  }

  release(buffer: StoreBuffer): void {
    if (!this.bytes.delete(buffer)) throw invalid('release of a buffer that is not live');
  }

  transferStats(): TransferStats {
    return { ...this.stats };
  }

  /** Rows as float32 on the "device" (store rows) or uploaded (host rows). */
  private rows(x: Float32Array | StoreRows, elements: number): Float32Array {
    if (x instanceof Float32Array) {
      this.stats.bytesToDevice += elements * 4;
      return x.subarray(0, elements);
    }
    const bytes = this.resolve(x.view);
    const size = x.precision === 'fp32' ? 4 : 2;
    if (bytes.byteLength < elements * size) {
      throw invalid(`store rows hold ${bytes.byteLength} bytes; ${elements * size} needed`);
    }
    const copy = bytes.slice(0, elements * size);
    if (x.precision === 'fp32') return new Float32Array(copy.buffer);
    const out = new Float32Array(elements);
    decodeF16Array(new Uint16Array(copy.buffer), 0, out, 0, elements);
    return out;
  }

  private quantizeTokens(inputs: StoreQuantizeTokensInputs): void | Promise<void> {
    const { layout, count } = inputs;
    const x = this.rows(inputs.x, count * layout.channels);
    const codes = this.resolve(inputs.codes);
    const meta = this.resolve(inputs.meta);
    const kernel = this.inner.kernels.quantizeTokens;
    if (kernel === undefined) throw invalid(`${this.inner.name} has no quantizeTokens`);
    return kernel.call(this.inner.kernels, {
      layout,
      x,
      count,
      codes,
      codesOffset: 0,
      meta,
      metaOffset: 0,
    });
  }

  private quantizeBlock(inputs: StoreQuantizeBlockInputs): void | Promise<void> {
    const { layout } = inputs;
    const x = this.rows(inputs.x, layout.blockTokens * layout.channels);
    const codes = this.resolve(inputs.codes);
    const meta = this.resolve(inputs.meta);
    const kernel = this.inner.kernels.quantizeBlock;
    if (kernel === undefined) throw invalid(`${this.inner.name} has no quantizeBlock`);
    return kernel.call(this.inner.kernels, {
      layout,
      x,
      codes,
      codesOffset: 0,
      meta,
      metaOffset: 0,
    });
  }

  /** A store segment as the inner kernels' host segment over the private bytes. */
  private hostSegment(segment: StoreSegment): KvSegment {
    if (segment.kind === 'packed') {
      const codes = this.resolve(segment.codes);
      const meta = this.resolve(segment.meta);
      return { ...segment, codes, meta };
    }
    const raw = this.resolve(segment.data);
    const aligned = raw.byteOffset % 4 === 0 ? raw : raw.slice();
    const data =
      segment.precision === 'fp32'
        ? new Float32Array(aligned.buffer, aligned.byteOffset, Math.floor(aligned.byteLength / 4))
        : new Uint16Array(aligned.buffer, aligned.byteOffset, Math.floor(aligned.byteLength / 2));
    return { ...segment, data };
  }

  private attend(
    inputs: StoreAttendInputs,
    attrs: AttentionAttrs,
  ): Float32Array | Promise<Float32Array> {
    const kernel = attendKernel(this.inner.kernels);
    if (kernel === undefined) throw invalid(`${this.inner.name} has no attend`);
    this.stats.bytesToDevice += inputs.q.byteLength;
    const out = kernel(
      {
        ...inputs,
        keys: inputs.keys.map((s) => this.hostSegment(s)),
        values: inputs.values.map((s) => this.hostSegment(s)),
      },
      attrs,
    );
    const count = (o: Float32Array) => {
      this.stats.bytesFromDevice += o.byteLength;
      return o;
    };
    return out instanceof Promise ? out.then(count) : count(out);
  }
}

export interface OpaqueStoreOptions {
  /** storage.read returns a promise, as WebGPU's does (saveCache must refuse, saveCacheAsync work). */
  asyncReads?: boolean;
}

/**
 * A backend whose KV storage is opaque "device" memory (see OpaqueStorage above), wrapping
 * `inner`'s host kernels (default: the CPU reference backend). Its `kernels` are the inner
 * backend's, for direct calls with host arrays; a cache on it uses `storage.kernels`.
 */
export function createOpaqueStoreBackend(
  inner: BackendPlugin = cpuReferenceBackend,
  options: OpaqueStoreOptions = {},
): OpaqueStoreBackend {
  const storage = new OpaqueStorage(inner, options.asyncReads === true);
  return {
    kind: 'backend',
    name: OPAQUE_STORE_BACKEND_NAME,
    // never chosen automatically: it exists for tests
    priority: -1000,
    kernels: inner.kernels,
    storage,
    transferStats: () => storage.transferStats(),
    liveBuffers: () => storage.live,
  };
}
