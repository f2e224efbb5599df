/**
 * Element types of the tensors this package reads and writes, their byte sizes and the
 * float16 / bfloat16 codecs. Activations are F32, F16 or BF16; positions are I32 or I64;
 * exported permutations are I32. All data is little-endian (safetensors' rule, and the only
 * byte order the .npy reader accepts).
 */
export type FloatDtype = 'F32' | 'F16' | 'BF16';
export type IntDtype = 'I32' | 'I64';
export type Dtype = FloatDtype | IntDtype;

export const FLOAT_DTYPES: readonly FloatDtype[] = ['F32', 'F16', 'BF16'];
export const INT_DTYPES: readonly IntDtype[] = ['I32', 'I64'];

export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
};

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value);
}

let f16Table: Float32Array | undefined;

/** All 65,536 float16 values as float32 (built on first use, 256 KiB). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

/**
 * Decodes `count` little-endian elements of `dtype` from `bytes` (offset 0, 4-byte aligned
 * buffer) into `out`. Returns the index of the first NaN/Inf, or -1: the check rides along
 * with the decode (exponent bits all ones) so a multi-GB capture is scanned once.
 */
export function decodeFloats(
  dtype: FloatDtype,
  bytes: Uint8Array,
  count: number,
  out: Float32Array,
): number {
  let bad = -1;
  if (dtype === 'F32') {
    const bits = new Uint32Array(bytes.buffer, bytes.byteOffset, count);
    const view = new Float32Array(bytes.buffer, bytes.byteOffset, count);
    for (let i = 0; i < count; i++) {
      if ((bits[i]! & 0x7f800000) === 0x7f800000 && bad < 0) bad = i;
    }
    out.set(view);
    return bad;
  }
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  if (dtype === 'F16') {
    const table = halfTable();
    for (let i = 0; i < count; i++) {
      const h = halves[i]!;
      if ((h & 0x7c00) === 0x7c00 && bad < 0) bad = i;
      out[i] = table[h]!;
    }
    return bad;
  }
  // BF16 is the upper half of a float32.
  const outBits = new Uint32Array(out.buffer, out.byteOffset, count);
  for (let i = 0; i < count; i++) {
    const h = halves[i]!;
    if ((h & 0x7f80) === 0x7f80 && bad < 0) bad = i;
    outBits[i] = h << 16;
  }
  return bad;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** float32 -> float16 bits, round to nearest even (overflow becomes Inf, as in numpy). */
export function toHalfBits(x: number): number {
  scratch[0] = x;
  const f = scratchBits[0]!;
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  let mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  const rest = mant & 0x1fff;
  let h = (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** float32 -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function toBfloat16Bits(x: number): number {
  scratch[0] = x;
  const f = scratchBits[0]!;
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) return (f >>> 16) | 0x40;
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Encodes float32 values to F16 / BF16 bits. */
export function encodeHalves(dtype: 'F16' | 'BF16', data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(data.length);
  const enc = dtype === 'F16' ? toHalfBits : toBfloat16Bits;
  for (let i = 0; i < data.length; i++) out[i] = enc(data[i]!);
  return out;
}

/** The F16 value of `bits` as a number (for tests and small reads). */
export function halfToFloat(bits: number): number {
  return halfTable()[bits & 0xffff]!;
}
