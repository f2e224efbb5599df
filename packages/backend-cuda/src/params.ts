import type { ArgType } from './signatures.js';

/** Anything with a device address: a DeviceBuffer, or a byte offset into one. */
export interface DevicePointer {
  readonly ptr: bigint;
}

/**
 * Packs kernel arguments in declaration order, each at its natural alignment, and
 * remembers where each starts (the addon hands the driver one pointer per argument).
 * Types must match the `extern "C"` kernel signatures in src/cuda/*.cu exactly.
 */
export class KernelArgs {
  private bytes = new Uint8Array(512);
  private view = new DataView(this.bytes.buffer);
  private offset = 0;
  private readonly starts: number[] = [];
  private readonly kinds: ArgType[] = [];

  private place(size: number, kind: ArgType): number {
    this.kinds.push(kind);
    this.offset = Math.ceil(this.offset / size) * size;
    const at = this.offset;
    if (at + size > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.starts.push(at);
    this.offset = at + size;
    return at;
  }

  /** A device pointer (a buffer, a raw address, or null for an absent optional array). */
  ptr(value: DevicePointer | bigint | null): this {
    const address = value === null ? 0n : typeof value === 'bigint' ? value : value.ptr;
    this.view.setBigUint64(this.place(8, 'ptr'), address, true);
    return this;
  }

  i32(value: number): this {
    this.view.setInt32(this.place(4, 'i32'), value, true);
    return this;
  }

  u32(value: number): this {
    this.view.setUint32(this.place(4, 'u32'), value >>> 0, true);
    return this;
  }

  f32(value: number): this {
    this.view.setFloat32(this.place(4, 'f32'), value, true);
    return this;
  }

  /** A `long long` argument. */
  i64(value: number): this {
    this.view.setBigInt64(this.place(8, 'i64'), BigInt(value), true);
    return this;
  }

  data(): Uint8Array {
    return this.bytes.slice(0, this.offset);
  }

  /** The argument types packed so far, in order. */
  types(): readonly ArgType[] {
    return this.kinds;
  }

  offsets(): Uint32Array {
    return Uint32Array.from(this.starts);
  }
}
