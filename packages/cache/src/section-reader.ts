import { SkvqError } from '@skvq/core';
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

  fp(precision: FpPrecision, elements: number): FpData {
    const raw = this.take(elements * FP_BYTES[precision]).buffer;
    return precision === 'fp32' ? new Float32Array(raw) : new Uint16Array(raw);
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
