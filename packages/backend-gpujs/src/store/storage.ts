import {
  type BackendStorage,
  NO_TRANSFERS,
  SkvqError,
  type StoreBuffer,
  type StoreKernels,
  type StorePurpose,
  type StoreView,
  type TransferStats,
} from '@skvq/core';
import type { GpujsContext, KernelResult } from '../context.js';
import {
  COPY_SOURCE,
  READ_SOURCE,
  UPLOAD_SOURCE,
  WRITE_SOURCE,
  ZEROS_SOURCE,
} from '../sources/store-buffers.js';
import { GpujsStoreBuffer, MAX_BUFFER_WORDS, ownBuffer, ownView } from './buffer.js';
import { writeTexels } from './texture-write.js';

const pow2Ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** Smallest capacity (words) a buffer or an uploaded array gets. */
const MIN_WORDS = 4;

/**
 * Buffer-sized kernels of a storage, and uploads of host arrays as textures. Every kernel
 * that produces a buffer is immutable (each call returns a new texture) and packs four
 * words per RGBA texel (gpu.js optimizeFloatMemory).
 */
export class StoreOps {
  constructor(readonly ctx: GpujsContext) {}

  zeros(capacity: number): KernelResult {
    return this.ctx.run(
      {
        key: `store-zeros:${capacity}`,
        source: ZEROS_SOURCE,
        output: [capacity],
        constants: {},
        pipeline: true,
        immutable: true,
        packed: true,
      },
      [],
    );
  }

  /** `values` on the device (uploaded once, counted), padded to a power of two. */
  upload(values: Float32Array): KernelResult {
    const size = pow2Ceil(Math.max(MIN_WORDS, values.length));
    return this.ctx.run(
      {
        key: `store-upload:${size}`,
        source: UPLOAD_SOURCE,
        output: [size],
        constants: {},
        pipeline: true,
        immutable: true,
        packed: true,
      },
      [values.length === 0 ? new Float32Array(1) : values, values.length],
    );
  }

  write(buffer: GpujsStoreBuffer, byteOffset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const w0 = Math.floor(byteOffset / 2);
    const n = Math.ceil((byteOffset + data.length) / 2) - w0;
    const vals = new Float32Array(n);
    for (let k = 0; k < data.length; k++) {
      const at = byteOffset + k;
      const w = (at >> 1) - w0;
      vals[w] = (vals[w] as number) + ((at & 1) === 1 ? 256 : 1) * (data[k] as number);
    }
    const direct = this.ctx.directWrites ? writeTexels(buffer.texture, w0, vals) : undefined;
    if (direct !== undefined) {
      this.ctx.transfers.bytesToDevice += direct;
      this.ctx.directTexelWrites++;
      return;
    }
    this.replace(
      buffer,
      this.ctx.run(this.bufferSpec('store-write', WRITE_SOURCE, buffer.capacity), [
        buffer.texture,
        vals,
        w0,
        n,
        byteOffset,
        byteOffset + data.length,
      ]),
    );
  }

  copy(
    src: GpujsStoreBuffer,
    srcOffset: number,
    dst: GpujsStoreBuffer,
    dstOffset: number,
    n: number,
  ) {
    if (n === 0) return;
    this.replace(
      dst,
      this.ctx.run(this.bufferSpec('store-copy', COPY_SOURCE, dst.capacity), [
        dst.texture,
        src.texture,
        dstOffset,
        dstOffset + n,
        srcOffset - dstOffset,
      ]),
    );
  }

  /** Words w0 .. w0 + n of a buffer's texture, read back. */
  readWords(texture: KernelResult, w0: number, n: number): Float32Array {
    const size = pow2Ceil(Math.max(MIN_WORDS, n));
    const out = this.ctx.run(
      {
        key: `store-read:${size}`,
        source: READ_SOURCE,
        output: [size],
        constants: {},
        packed: true,
      },
      [texture, w0, n],
    );
    return this.ctx.readResult(out, n);
  }

  read(buffer: GpujsStoreBuffer, byteOffset: number, byteLength: number): Uint8Array {
    const out = new Uint8Array(byteLength);
    if (byteLength === 0) return out;
    const w0 = Math.floor(byteOffset / 2);
    const words = this.readWords(buffer.texture, w0, Math.ceil((byteOffset + byteLength) / 2) - w0);
    for (let k = 0; k < byteLength; k++) {
      const at = byteOffset + k;
      const w = words[(at >> 1) - w0] as number;
      out[k] = (at & 1) === 1 ? Math.floor(w / 256) : w % 256;
    }
    return out;
  }

  /** A new texture for a buffer: the old one is freed (kernels already read it). */
  replace(buffer: GpujsStoreBuffer, texture: KernelResult): void {
    const old = buffer.texture;
    buffer.texture = texture;
    if (old !== texture) this.ctx.free(old);
  }

  bufferSpec(name: string, source: string, capacity: number) {
    return {
      key: `${name}:${capacity}`,
      source,
      output: [capacity],
      constants: {},
      pipeline: true,
      immutable: true,
      packed: true,
    };
  }
}

/**
 * The gpu.js backend's storage: buffers are textures that stay on the device between
 * calls (sources/store-bytes.ts says how bytes are held), writes upload only the bytes
 * written, copies never leave the device and reads download only the view read.
 */
export function createGpujsStorage(
  context: () => GpujsContext,
  name: string,
  makeKernels: (ops: () => StoreOps, owner: object) => StoreKernels,
): BackendStorage {
  let ops: StoreOps | undefined;
  const opsOf = (): StoreOps => {
    const ctx = context();
    if (ops === undefined || ops.ctx !== ctx) ops = new StoreOps(ctx);
    return ops;
  };
  const where = `backend "${name}" storage`;
  // Buffers remember which storage made them (kernels refuse anyone else's).
  const owner = {};
  const kernels = makeKernels(opsOf, owner);
  return {
    residence: 'device',
    allocate(byteLength: number, purpose: StorePurpose): StoreBuffer {
      if (!Number.isSafeInteger(byteLength) || byteLength < 0 || byteLength % 4 !== 0) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${where}: byteLength must be a non-negative multiple of 4, got ${String(byteLength)}`,
        );
      }
      if (purpose !== 'codes' && purpose !== 'meta' && purpose !== 'fp') {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${where}: purpose must be 'codes', 'meta' or 'fp', got ${String(purpose)}`,
        );
      }
      const capacity = pow2Ceil(Math.max(MIN_WORDS, byteLength / 2));
      if (capacity > MAX_BUFFER_WORDS) {
        throw new SkvqError(
          'UNSUPPORTED_OPTION',
          `${where}: a buffer holds at most ${2 * MAX_BUFFER_WORDS} bytes (2^24 words: every index must stay an exact float32), asked for ${byteLength}`,
        );
      }
      const o = opsOf();
      return new GpujsStoreBuffer(owner, byteLength, capacity, purpose, o.zeros(capacity));
    },
    write(buffer, byteOffset, data) {
      const own = ownView(
        owner,
        { buffer, byteOffset, byteLength: data?.length },
        `${where} write`,
      );
      if (!(data instanceof Uint8Array)) {
        throw new SkvqError('INVALID_ARGUMENT', `${where} write: data must be a Uint8Array`);
      }
      opsOf().write(own, byteOffset, data);
    },
    copy(src: StoreView, dst, dstOffset) {
      const from = ownView(owner, src, `${where} copy (source)`);
      const to = ownView(
        owner,
        { buffer: dst, byteOffset: dstOffset, byteLength: src.byteLength },
        `${where} copy (destination)`,
      );
      opsOf().copy(from, src.byteOffset, to, dstOffset, src.byteLength);
    },
    read(src) {
      const own = ownView(owner, src, `${where} read`);
      return opsOf().read(own, src.byteOffset, src.byteLength);
    },
    release(buffer) {
      const own = ownBuffer(owner, buffer, `${where} release`);
      own.released = true;
      try {
        ops?.ctx.free(own.texture);
      } catch {
        // After dispose() the texture went with its context: nothing is left to free.
      }
      own.texture = undefined;
    },
    transferStats(): TransferStats {
      let ctx: GpujsContext;
      try {
        ctx = context();
      } catch {
        return { ...NO_TRANSFERS };
      }
      return ctx.transfers.snapshot();
    },
    kernels,
  };
}
