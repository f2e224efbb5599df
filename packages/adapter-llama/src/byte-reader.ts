import { fail } from './errors.js';

/**
 * Little-endian cursor over bytes that throws FILE_TRUNCATED (naming the file and what it
 * was reading) instead of reading past the end.
 */
export class ByteReader {
  readonly view: DataView;
  offset: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
    offset = 0,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  /** Ensures `size` more bytes exist for `field`. */
  need(size: number, field: string): void {
    // `!(size >= 0)` also refuses NaN; sizes past 2^53 compare as larger than any file
    if (!(size >= 0) || this.offset + size > this.bytes.byteLength) {
      fail(
        'FILE_TRUNCATED',
        `${this.what} is truncated: reading ${field} needs ${size} bytes at offset ${this.offset}, but the file has ${this.bytes.byteLength} bytes`,
        { field, offset: this.offset, size, fileSize: this.bytes.byteLength },
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.offset++);
  }
  i8(field: string): number {
    this.need(1, field);
    return this.view.getInt8(this.offset++);
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  i16(field: string): number {
    this.need(2, field);
    const v = this.view.getInt16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  i32(field: string): number {
    this.need(4, field);
    const v = this.view.getInt32(this.offset, true);
    this.offset += 4;
    return v;
  }
  f32(field: string): number {
    this.need(4, field);
    const v = this.view.getFloat32(this.offset, true);
    this.offset += 4;
    return v;
  }
  f64(field: string): number {
    this.need(8, field);
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }
  /** A u64 that must fit a JS safe integer (counts, sizes, offsets). */
  u64(field: string): number {
    this.need(8, field);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      fail('FILE_CORRUPTED', `${this.what}: ${field} is ${v}, larger than any valid size`, {
        field,
        value: v.toString(),
      });
    }
    return Number(v);
  }
  i64(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigInt64(this.offset, true);
    this.offset += 8;
    return v;
  }
  bytesOf(size: number, field: string): Uint8Array {
    this.need(size, field);
    const out = this.bytes.subarray(this.offset, this.offset + size);
    this.offset += size;
    return out;
  }
  /** `count` little-endian float32 values, copied (the source may be unaligned). */
  f32Array(count: number, field: string): Float32Array {
    const raw = this.bytesOf(count * 4, field);
    return readF32(raw, count);
  }
}

/** Copies `count` little-endian float32 values out of possibly unaligned bytes. */
export function readF32(raw: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(raw.subarray(0, count * 4));
  return out;
}
