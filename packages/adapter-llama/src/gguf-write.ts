import { encodeFp16 } from '@skvq/formats';
import { fail } from './errors.js';
import {
  GGML_BLOCK,
  GGML_TYPE,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE,
  GGUF_VERSION,
  type GgmlTypeName,
  type GgufValue,
} from './gguf-types.js';

/** Types the writer can produce. */
export type GgufWriteType = 'F32' | 'F16' | 'Q8_0';
export const GGUF_WRITE_TYPES: readonly GgufWriteType[] = ['F32', 'F16', 'Q8_0'];

export interface GgufTensorInput {
  name: string;
  /** ne order: dims[0] is the row length. */
  dims: number[];
  type: GgufWriteType;
  data: Float32Array;
}

/** Growable little-endian byte sink. */
class Sink {
  bytes = new Uint8Array(1 << 16);
  view = new DataView(this.bytes.buffer);
  length = 0;
  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) {
    this.reserve(1);
    this.view.setUint8(this.length++, v);
  }
  u16(v: number) {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number) {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number) {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  raw(b: Uint8Array) {
    this.reserve(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
  pad(alignment: number) {
    const target = Math.ceil(this.length / alignment) * alignment;
    this.reserve(target - this.length);
    this.bytes.fill(0, this.length, target);
    this.length = target;
  }
  string(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.raw(b);
  }
  scalar(type: number, v: number | boolean | string) {
    switch (type) {
      case GGUF_VALUE.u8:
        return this.u8(v as number);
      case GGUF_VALUE.i8:
        this.reserve(1);
        this.view.setInt8(this.length++, v as number);
        return;
      case GGUF_VALUE.u16:
        return this.u16(v as number);
      case GGUF_VALUE.i16:
        this.reserve(2);
        this.view.setInt16(this.length, v as number, true);
        this.length += 2;
        return;
      case GGUF_VALUE.u32:
        return this.u32(v as number);
      case GGUF_VALUE.i32:
        this.reserve(4);
        this.view.setInt32(this.length, v as number, true);
        this.length += 4;
        return;
      case GGUF_VALUE.f32:
        this.reserve(4);
        this.view.setFloat32(this.length, v as number, true);
        this.length += 4;
        return;
      case GGUF_VALUE.bool:
        return this.u8(v ? 1 : 0);
      case GGUF_VALUE.string:
        return this.string(v as string);
      case GGUF_VALUE.u64:
        return this.u64(v as number);
      case GGUF_VALUE.i64:
        this.reserve(8);
        this.view.setBigInt64(this.length, BigInt(v as number), true);
        this.length += 8;
        return;
      case GGUF_VALUE.f64:
        this.reserve(8);
        this.view.setFloat64(this.length, v as number, true);
        this.length += 8;
        return;
    }
  }
}

/**
 * Q8_0 as ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 stored as fp16,
 * q = round(x / d) (Math.round differs from roundf only at exact .5 of negative numbers:
 * use sign-symmetric rounding like roundf).
 */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  const blocks = data.length / 32;
  const out = new Uint8Array(blocks * GGML_BLOCK.Q8_0.bytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[b * 32 + j] as number));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const base = b * 34;
    view.setUint16(base, encodeFp16(d), true);
    for (let j = 0; j < 32; j++) {
      const x = Math.fround((data[b * 32 + j] as number) * id);
      view.setInt8(base + 2 + j, Math.sign(x) * Math.round(Math.abs(x)));
    }
  }
  return out;
}

function encodeTensor(t: GgufTensorInput): Uint8Array {
  const elements = t.dims.reduce((a, b) => a * b, 1);
  if (elements !== t.data.length) {
    fail(
      'SHAPE_MISMATCH',
      `tensor "${t.name}" has dims ${t.dims.join('x')} (${elements} values) but ${t.data.length} values`,
      {
        tensor: t.name,
      },
    );
  }
  switch (t.type) {
    case 'F32':
      return new Uint8Array(
        t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength),
      );
    case 'F16': {
      const out = new Uint8Array(elements * 2);
      const view = new DataView(out.buffer);
      for (let i = 0; i < elements; i++)
        view.setUint16(i * 2, encodeFp16(t.data[i] as number), true);
      return out;
    }
    case 'Q8_0':
      if ((t.dims[0] as number) % 32 !== 0) {
        fail(
          'UNSUPPORTED_OPTION',
          `tensor "${t.name}" has rows of ${t.dims[0]} values; Q8_0 needs a multiple of 32 (use F16 or F32)`,
          {
            tensor: t.name,
          },
        );
      }
      return quantizeQ8_0(t.data);
    default:
      return fail(
        'UNSUPPORTED_OPTION',
        `tensor type ${String(t.type)} cannot be written; expected ${GGUF_WRITE_TYPES.join(', ')}`,
      );
  }
}

/**
 * Writes a GGUF v3 file: header, metadata (in the given order), tensor infos, aligned data.
 */
export function writeGguf(
  metadata: ReadonlyArray<[string, GgufValue]>,
  tensors: readonly GgufTensorInput[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): Uint8Array {
  const s = new Sink();
  s.u32(GGUF_MAGIC);
  s.u32(GGUF_VERSION);
  s.u64(tensors.length);
  s.u64(metadata.length);
  for (const [key, value] of metadata) {
    s.string(key);
    if (value.type === 'array') {
      s.u32(GGUF_VALUE.array);
      const itemType = GGUF_VALUE[value.itemType];
      s.u32(itemType);
      s.u64(value.value.length);
      for (const item of value.value) s.scalar(itemType, item);
    } else {
      s.u32(GGUF_VALUE[value.type]);
      s.scalar(GGUF_VALUE[value.type], value.value);
    }
  }
  const encoded = tensors.map(encodeTensor);
  let offset = 0;
  tensors.forEach((t, i) => {
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(GGML_TYPE[t.type as GgmlTypeName]);
    s.u64(offset);
    offset = Math.ceil((offset + (encoded[i] as Uint8Array).length) / alignment) * alignment;
  });
  s.pad(alignment);
  for (const bytes of encoded) {
    s.raw(bytes);
    s.pad(alignment);
  }
  return s.bytes.slice(0, s.length);
}
