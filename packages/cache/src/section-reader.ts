import { META_BYTES, type MetaFormat, SkvqError } from '@skvq/core';
import { FP_BYTES, type FpData, type FpPrecision } from './fp-rows.js';

/** A saved file's content is inconsistent with itself (checksum fine, counts wrong). */
export function badSection(what: string, details: Record<string, unknown> = {}): SkvqError {
  return new SkvqError('FILE_CORRUPTED', `saved cache: ${what}`, { details });
}

/**
 * Reads one section of a saved cache (the bytes one part wrote). Every read is checked
 * against the bytes present, and `finish` checks that the part consumed exactly its
 * section, so a count that does not match the data is a typed error, never an
 * out-of-bounds read or a silently short array.
 */
export class SectionReader {
  private at = 0;

  constructor(
    private readonly bytes: Uint8Array,
    readonly name: string,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.at;
  }

  /** A copy of the next `n` bytes (a fresh, aligned buffer). */
  take(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > this.remaining) {
      throw badSection(
        `${this.name} announces ${String(n)} more bytes but only ${this.remaining} are left`,
        { section: this.name, wanted: n, remaining: this.remaining },
      );
    }
    const out = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  int32(n: number): Int32Array {
    return new Int32Array(this.take(4 * n).buffer);
  }

  /** `elements` stored rows values; every one must be finite (append refuses the others). */
  fp(precision: FpPrecision, elements: number): FpData {
    const raw = this.take(elements * FP_BYTES[precision]).buffer;
    const data = precision === 'fp32' ? new Float32Array(raw) : new Uint16Array(raw);
    const bad = firstNonFinite(data);
    if (bad >= 0) {
      throw badSection(`${this.name} holds a non-finite value at element ${bad}`, {
        section: this.name,
        element: bad,
      });
    }
    return data;
  }

  finish(): void {
    if (this.remaining !== 0) {
      throw badSection(`${this.name} holds ${this.remaining} bytes more than its counts say`, {
        section: this.name,
        extra: this.remaining,
      });
    }
  }
}

/** Index of the first NaN/Infinity in float32 values or fp16 bit patterns, or -1. */
export function firstNonFinite(data: FpData): number {
  if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
    return -1;
  }
  // binary16: exponent bits all ones is Infinity or NaN
  for (let i = 0; i < data.length; i++) if ((data[i]! & 0x7c00) === 0x7c00) return i;
  return -1;
}

/** Bit masks that make a metadata value NaN/Infinity: [bytes, mask, pattern] per format. */
const META_NON_FINITE: Readonly<Record<MetaFormat, [number, number]>> = {
  fp32: [0x7f800000, 0x7f800000],
  fp16: [0x7c00, 0x7c00],
  // E4M3FN has no infinities; S.1111.111 is NaN
  fp8e4m3: [0x7f, 0x7f],
};

/** Throws unless every scale and zero in `meta` (little-endian values) is finite. */
export function checkFiniteMeta(meta: Uint8Array, format: MetaFormat, name: string): void {
  const [mask, pattern] = META_NON_FINITE[format];
  const size = META_BYTES[format];
  for (let at = 0; at + size <= meta.length; at += size) {
    let bits = 0;
    for (let b = size - 1; b >= 0; b--) bits = bits * 256 + meta[at + b]!;
    if ((bits & mask) >>> 0 === pattern) {
      throw badSection(`${name} metadata holds a non-finite scale or zero at byte ${at}`, {
        section: name,
        byte: at,
      });
    }
  }
}

/** Throws unless `positions` ascend strictly inside [0, length). */
export function checkPositions(positions: Int32Array, length: number, name: string): void {
  let last = -1;
  for (const p of positions) {
    if (p <= last || p >= length) {
      throw badSection(
        `${name} positions must ascend inside 0..${length - 1}; found ${p} after ${last}`,
        { section: name, position: p, length },
      );
    }
    last = p;
  }
}
