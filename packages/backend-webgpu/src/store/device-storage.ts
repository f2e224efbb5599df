import {
  type BackendStorage,
  SkvqError,
  type StoreBuffer,
  type StoreKernels,
  type StorePurpose,
  type StoreView,
  type TransferStats,
} from '@skvq/core';
import { BUFFER_USAGE } from '../constants.js';
import type { GpuContext } from '../gpu-context.js';
import { SCATTER_UNIFORM_WORDS, scatterWgsl } from '../wgsl/store-bytes.js';
import { RANGE_ALIGN, RangeAllocator } from './ranges.js';

/**
 * Device storage of the WebGPU backend. Store buffers are sub-allocated from arenas: GPU
 * buffers of up to `arenaBytes` (default: what one storage binding may hold), grown by
 * doubling (a device-side copy into a bigger buffer) from ARENA_START bytes. Kernels bind a
 * whole arena and address a view by its byte offset inside it (passed in uniforms and
 * descriptor tables), so views need no binding-offset alignment (256 bytes) and a decode
 * step binds one arena per stream however many pages it holds.
 */
export const ARENA_START = 1 << 20;
/** Spare bytes after an arena's last range: the code readers may load one word past a row. */
const ARENA_SPARE = 16;

export class Arena {
  gpu: GPUBuffer;
  /** False once the storage is disposed (its buffers are gone with it). */
  alive = true;
  readonly ranges: RangeAllocator;
  constructor(
    readonly id: number,
    gpu: GPUBuffer,
    capacity: number,
  ) {
    this.gpu = gpu;
    this.ranges = new RangeAllocator(capacity);
  }
}

/** A store buffer of this storage: a range of one arena. */
export class DeviceStoreBuffer implements StoreBuffer {
  released = false;
  constructor(
    readonly byteLength: number,
    readonly arena: Arena,
    /** Byte offset of the buffer's first byte in its arena. */
    readonly offset: number,
    /** Bytes reserved (byteLength rounded up to RANGE_ALIGN). */
    readonly reserved: number,
    readonly owner: object,
  ) {}
}

/** A checked view: its arena and its first byte's offset there. */
export interface ArenaView {
  arena: Arena;
  at: number;
  byteLength: number;
}

export interface WebgpuStorage extends BackendStorage {
  readonly residence: 'device';
  readonly kernels: StoreKernels;
  /** Checks that `view` is a live range of this storage and returns where it lives. */
  locate(view: StoreView, what: string): ArenaView;
  /** Arenas now held (tests, benchmarks). */
  arenaCount(): number;
  /** Destroys every arena (backend dispose). */
  dispose(): void;
}

function fail(message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('INVALID_ARGUMENT', `storage (webgpu): ${message}`, { details });
}

const ceil4 = (n: number) => Math.ceil(n / 4) * 4;

export interface StorageParts {
  context: () => GpuContext;
  /** Largest arena in bytes (default: the device's binding limit). */
  arenaBytes?: number;
  /** The kernels, given the storage they run on (they locate views through it). */
  kernels: (storage: WebgpuStorage) => StoreKernels;
}

export function createWebgpuStorage(parts: StorageParts): WebgpuStorage {
  const arenas: Arena[] = [];
  let nextArenaId = 0;
  /** [0xffffffff]: the verdict of a plain byte copy (every row may be written). */
  let allRows: GPUBuffer | undefined;
  let allRowsCtx: GpuContext | undefined;
  const owner = {};

  const maxArena = (ctx: GpuContext): number => {
    // Byte offsets travel as u32 words: arenas stay below 2 GiB.
    const limit = Math.min(parts.arenaBytes ?? 2 ** 31, ctx.maxBindingBytes, 2 ** 31);
    return Math.floor((limit - ARENA_SPARE) / RANGE_ALIGN) * RANGE_ALIGN;
  };

  const makeGpu = (ctx: GpuContext, capacity: number): GPUBuffer =>
    ctx.device.createBuffer({
      size: capacity + ARENA_SPARE,
      usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST,
    });

  /** Doubles `arena` (at most to `cap`) until `size` more bytes fit; false when they cannot. */
  const grow = (ctx: GpuContext, arena: Arena, size: number, cap: number): boolean => {
    const need = arena.ranges.end + size;
    if (need > cap) return false;
    let capacity = arena.ranges.capacity;
    while (capacity < need) capacity = Math.min(cap, capacity * 2);
    const bigger = makeGpu(ctx, capacity);
    const encoder = ctx.device.createCommandEncoder();
    // Device to device: growing moves no bytes across the host boundary.
    if (arena.ranges.end > 0) encoder.copyBufferToBuffer(arena.gpu, 0, bigger, 0, arena.ranges.end);
    ctx.device.queue.submit([encoder.finish()]);
    arena.gpu.destroy();
    arena.gpu = bigger;
    arena.ranges.capacity = capacity;
    return true;
  };

  const place = (
    ctx: GpuContext,
    size: number,
  ): { arena: Arena; offset: number; reused: boolean } => {
    const cap = maxArena(ctx);
    if (size > cap) {
      fail(
        `a buffer of ${size} bytes exceeds the largest arena (${cap} bytes: the device's storage binding limit)`,
        {
          size,
          cap,
        },
      );
    }
    for (const arena of arenas) {
      const got = arena.ranges.take(size);
      if (got !== undefined) return { arena, ...got };
    }
    const last = arenas[arenas.length - 1];
    if (last !== undefined && grow(ctx, last, size, cap)) {
      const got = last.ranges.take(size);
      if (got !== undefined) return { arena: last, ...got };
    }
    let capacity = Math.min(cap, ARENA_START);
    while (capacity < size) capacity = Math.min(cap, capacity * 2);
    const arena = new Arena(nextArenaId++, makeGpu(ctx, capacity), capacity);
    arenas.push(arena);
    const got = arena.ranges.take(size) as { offset: number; reused: boolean };
    return { arena, ...got };
  };

  const bufferOf = (buffer: StoreBuffer, what: string): DeviceStoreBuffer => {
    if (!(buffer instanceof DeviceStoreBuffer) || buffer.owner !== owner) {
      fail(`${what} is not a buffer of this storage (allocate it with this backend's storage)`);
    }
    if (buffer.released) fail(`${what} was released`);
    if (!buffer.arena.alive) fail(`${what} belonged to this storage before dispose()`);
    return buffer;
  };

  const checkRange = (
    b: DeviceStoreBuffer,
    byteOffset: number,
    byteLength: number,
    what: string,
  ) => {
    if (
      !Number.isInteger(byteOffset) ||
      !Number.isInteger(byteLength) ||
      byteOffset < 0 ||
      byteLength < 0 ||
      byteOffset + byteLength > b.byteLength
    ) {
      fail(
        `${what}: bytes [${byteOffset}, ${byteOffset + byteLength}) are outside its buffer of ${b.byteLength} bytes`,
        { byteOffset, byteLength, bufferBytes: b.byteLength },
      );
    }
  };

  /** Records a byte-exact copy of `len` bytes from `src` (at srcAt) into `dst` (at dstAt). */
  const scatterBytes = (
    ctx: GpuContext,
    encoder: GPUCommandEncoder,
    src: GPUBuffer,
    srcAt: number,
    dst: Arena,
    dstAt: number,
    len: number,
    made: GPUBuffer[],
  ) => {
    if (allRows === undefined || allRowsCtx !== ctx) {
      allRows = ctx.storage(new Uint32Array([0xffffffff]));
      allRowsCtx = ctx;
    }
    const wg = ctx.workgroupSize;
    const words = wordsSpanned(dstAt, len);
    const u = new Uint32Array(SCATTER_UNIFORM_WORDS);
    u.set([dstAt, 1, len, 0, srcAt, words]);
    const uniforms = ctx.uniform(u);
    made.push(uniforms);
    const pipeline = ctx.pipeline(`store-scatter:${wg}`, () => scatterWgsl(wg));
    ctx.dispatch(encoder, pipeline, [uniforms, src, allRows, dst.gpu], gridOf(ctx, words));
  };

  const storage: WebgpuStorage = {
    residence: 'device',
    kernels: undefined as unknown as StoreKernels,
    allocate(byteLength: number, _purpose: StorePurpose): StoreBuffer {
      if (!Number.isSafeInteger(byteLength) || byteLength < 0 || byteLength % 4 !== 0) {
        fail(`byteLength must be a non-negative multiple of 4, got ${String(byteLength)}`);
      }
      const ctx = parts.context();
      const reserved = RangeAllocator.sizeOf(byteLength);
      const { arena, offset, reused } = place(ctx, reserved);
      if (reused) {
        // Freed bytes are cleared on the device, in queue order with later kernels.
        const encoder = ctx.device.createCommandEncoder();
        encoder.clearBuffer(arena.gpu, offset, reserved);
        ctx.device.queue.submit([encoder.finish()]);
      }
      return new DeviceStoreBuffer(byteLength, arena, offset, reserved, owner);
    },
    write(buffer, byteOffset, data) {
      const b = bufferOf(buffer, 'write target');
      if (!(data instanceof Uint8Array)) fail('write data must be a Uint8Array');
      checkRange(b, byteOffset, data.byteLength, 'write');
      if (data.byteLength === 0) return;
      const ctx = parts.context();
      const at = b.offset + byteOffset;
      if (at % 4 === 0 && data.byteLength % 4 === 0) {
        ctx.device.queue.writeBuffer(b.arena.gpu, at, data as Uint8Array<ArrayBuffer>);
        ctx.transfers.bytesToDevice += data.byteLength;
        return;
      }
      // Unaligned: upload the bytes, then a scatter pass merges them into their words.
      const made: GPUBuffer[] = [ctx.storage(data)];
      const encoder = ctx.device.createCommandEncoder();
      scatterBytes(ctx, encoder, made[0] as GPUBuffer, 0, b.arena, at, data.byteLength, made);
      ctx.device.queue.submit([encoder.finish()]);
      for (const m of made) m.destroy();
    },
    copy(src, dst, dstOffset) {
      const s = storage.locate(src, 'copy source');
      const d = bufferOf(dst, 'copy target');
      checkRange(d, dstOffset, src.byteLength, 'copy');
      if (src.byteLength === 0) return;
      const ctx = parts.context();
      const at = d.offset + dstOffset;
      const encoder = ctx.device.createCommandEncoder();
      const made: GPUBuffer[] = [];
      const aligned = s.at % 4 === 0 && at % 4 === 0 && src.byteLength % 4 === 0;
      if (aligned && s.arena !== d.arena) {
        encoder.copyBufferToBuffer(s.arena.gpu, s.at, d.arena.gpu, at, src.byteLength);
      } else if (aligned) {
        // WebGPU copies never have one buffer as both source and destination: go via a temp.
        const temp = ctx.output(src.byteLength);
        made.push(temp);
        encoder.copyBufferToBuffer(s.arena.gpu, s.at, temp, 0, src.byteLength);
        encoder.copyBufferToBuffer(temp, 0, d.arena.gpu, at, src.byteLength);
      } else {
        // Unaligned: copy the covering words aside, then scatter the exact bytes.
        const from = s.at - (s.at % 4);
        const span = ceil4(s.at + src.byteLength) - from;
        const temp = ctx.output(span);
        made.push(temp);
        encoder.copyBufferToBuffer(s.arena.gpu, from, temp, 0, span);
        scatterBytes(ctx, encoder, temp, s.at - from, d.arena, at, src.byteLength, made);
      }
      ctx.device.queue.submit([encoder.finish()]);
      for (const m of made) m.destroy();
    },
    async read(src) {
      const s = storage.locate(src, 'read source');
      if (src.byteLength === 0) return new Uint8Array(0);
      const ctx = parts.context();
      const from = s.at - (s.at % 4);
      const span = ceil4(s.at + src.byteLength) - from;
      const bytes = await ctx.run(() => {}, s.arena.gpu, span, from);
      return new Uint8Array(bytes, s.at - from, src.byteLength).slice();
    },
    release(buffer) {
      const b = bufferOf(buffer, 'released buffer');
      b.released = true;
      b.arena.ranges.give(b.offset, b.reserved);
    },
    transferStats(): TransferStats {
      let ctx: GpuContext;
      try {
        ctx = parts.context();
      } catch {
        return { bytesToDevice: 0, bytesFromDevice: 0 };
      }
      return { ...ctx.transfers };
    },
    locate(view, what) {
      if (view === null || typeof view !== 'object') fail(`${what} must be a store view`);
      const b = bufferOf(view.buffer, `${what}'s buffer`);
      checkRange(b, view.byteOffset, view.byteLength, what);
      return { arena: b.arena, at: b.offset + view.byteOffset, byteLength: view.byteLength };
    },
    arenaCount: () => arenas.length,
    dispose() {
      for (const a of arenas) {
        a.gpu.destroy();
        a.alive = false;
      }
      arenas.length = 0;
      allRows?.destroy();
      allRows = undefined;
    },
  };
  (storage as { kernels: StoreKernels }).kernels = parts.kernels(storage);
  return storage;
}

/** Workgroups for `items` invocations: x up to the per-dimension limit, then y. */
export function gridOf(ctx: GpuContext, items: number): [number, number] {
  const groups = Math.max(1, Math.ceil(items / ctx.workgroupSize));
  const maxDim = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxDim) return [groups, 1];
  const y = Math.ceil(groups / maxDim);
  return [Math.ceil(groups / y), y];
}

/** u32 words that bytes [at, at + len) touch (len > 0). */
export function wordsSpanned(at: number, len: number): number {
  return Math.floor((at + len - 1) / 4) - Math.floor(at / 4) + 1;
}
