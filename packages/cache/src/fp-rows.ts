import type { FpSegment } from '@skvq/core';
import { decodeF16Array, encodeF16Array } from './fp16.js';

/** How full-precision tokens are stored: float32, or binary16 bits in a Uint16Array. */
export type FpPrecision = 'fp32' | 'fp16';
export const FP_PRECISIONS: readonly FpPrecision[] = ['fp32', 'fp16'];

/** Bytes of one stored full-precision element. */
export const FP_BYTES: Readonly<Record<FpPrecision, number>> = { fp32: 4, fp16: 2 };

export type FpData = Float32Array | Uint16Array;

/**
 * Every held token also carries its position (an Int32 the kernels read for RoPE and the
 * causal mask); byte accounting counts it with the token.
 */
export const POSITION_BYTES = 4;

export function allocFp(precision: FpPrecision, elements: number): FpData {
  return precision === 'fp32' ? new Float32Array(elements) : new Uint16Array(elements);
}

/** Writes float32 rows into stored rows (converting to fp16 bits when needed). */
export function writeFpRows(
  dst: FpData,
  dstRow: number,
  src: Float32Array,
  srcRow: number,
  rows: number,
  channels: number,
): void {
  const n = rows * channels;
  if (dst instanceof Float32Array) {
    dst.set(src.subarray(srcRow * channels, srcRow * channels + n), dstRow * channels);
  } else {
    encodeF16Array(src, srcRow * channels, dst, dstRow * channels, n);
  }
}

/** Reads stored rows back as float32 (a new array). */
export function readFpRows(
  src: FpData,
  srcRow: number,
  rows: number,
  channels: number,
): Float32Array {
  const n = rows * channels;
  if (src instanceof Float32Array) return src.slice(srcRow * channels, srcRow * channels + n);
  const out = new Float32Array(n);
  decodeF16Array(src, srcRow * channels, out, 0, n);
  return out;
}

interface FpPage {
  data: FpData;
  positions: Int32Array;
  count: number;
}

/**
 * Full-precision tokens kept for good (the dense cache, attention sinks, tokens a filter
 * rule keeps), stored page by page so that growing never copies what is already held.
 * Positions are appended in ascending order.
 */
export class FpPagedRows {
  readonly pages: FpPage[] = [];
  private total = 0;

  constructor(
    readonly channels: number,
    readonly precision: FpPrecision,
    readonly pageTokens: number,
  ) {}

  get count(): number {
    return this.total;
  }

  /** Tokens whose position is below `limit` (positions are ascending). */
  countBelow(limit: number): number {
    let n = 0;
    for (const page of this.pages) {
      const p = page.positions;
      if (page.count > 0 && p[page.count - 1]! < limit) {
        n += page.count;
        continue;
      }
      for (let i = 0; i < page.count && p[i]! < limit; i++) n++;
      break;
    }
    return n;
  }

  private lastPageWithRoom(): FpPage {
    const last = this.pages[this.pages.length - 1];
    if (last !== undefined && last.count < this.pageTokens) return last;
    const page: FpPage = {
      data: allocFp(this.precision, this.pageTokens * this.channels),
      positions: new Int32Array(this.pageTokens),
      count: 0,
    };
    this.pages.push(page);
    return page;
  }

  /** Appends float32 rows src[srcRow .. srcRow+rows) at positions positions[posOffset ..]. */
  appendFloat(
    src: Float32Array,
    srcRow: number,
    rows: number,
    positions: ArrayLike<number>,
    posOffset: number,
  ): void {
    let done = 0;
    while (done < rows) {
      const page = this.lastPageWithRoom();
      const n = Math.min(rows - done, this.pageTokens - page.count);
      writeFpRows(page.data, page.count, src, srcRow + done, n, this.channels);
      for (let i = 0; i < n; i++) page.positions[page.count + i] = positions[posOffset + done + i]!;
      page.count += n;
      done += n;
    }
    this.total += rows;
  }

  /** Appends rows already in this store's precision (no re-rounding). */
  appendStored(
    src: FpData,
    srcRow: number,
    rows: number,
    positions: ArrayLike<number>,
    posOffset: number,
  ): void {
    const ch = this.channels;
    let done = 0;
    while (done < rows) {
      const page = this.lastPageWithRoom();
      const n = Math.min(rows - done, this.pageTokens - page.count);
      const from = (srcRow + done) * ch;
      (page.data as Float32Array).set(
        (src as Float32Array).subarray(from, from + n * ch),
        page.count * ch,
      );
      for (let i = 0; i < n; i++) page.positions[page.count + i] = positions[posOffset + done + i]!;
      page.count += n;
      done += n;
    }
    this.total += rows;
  }

  segments(): FpSegment[] {
    const out: FpSegment[] = [];
    for (const page of this.pages) {
      if (page.count === 0) continue;
      out.push({
        kind: 'fp',
        count: page.count,
        precision: this.precision,
        data: page.data,
        positions: page.positions.subarray(0, page.count),
      });
    }
    return out;
  }

  /** Bytes of the tokens held (values and positions). */
  heldBytes(): number {
    return this.total * (this.channels * FP_BYTES[this.precision] + POSITION_BYTES);
  }

  /** Held bytes of the tokens at positions below `limit` (attention sinks). */
  heldBytesBelow(limit: number): number {
    return this.countBelow(limit) * (this.channels * FP_BYTES[this.precision] + POSITION_BYTES);
  }

  /** Segments holding exactly the tokens at positions below `limit`. */
  segmentsBelow(limit: number): FpSegment[] {
    const out: FpSegment[] = [];
    for (const page of this.pages) {
      let n = 0;
      while (n < page.count && page.positions[n]! < limit) n++;
      if (n === 0) break;
      out.push({
        kind: 'fp',
        count: n,
        precision: this.precision,
        data: page.data,
        positions: page.positions.subarray(0, n),
      });
      if (n < page.count) break;
    }
    return out;
  }

  /** Bytes allocated but not holding a token (the unused end of the last page). */
  slackBytes(): number {
    const perToken = this.channels * FP_BYTES[this.precision] + POSITION_BYTES;
    return this.pages.length * this.pageTokens * perToken - this.heldBytes();
  }

  /** The held rows, page by page, as bytes (saved sections). */
  rowSections(): Uint8Array[] {
    return this.pages.map((page) => bytesOf(page.data.subarray(0, page.count * this.channels)));
  }

  /** Saved section: every held position (Int32), then every held row. */
  sections(): Uint8Array[] {
    const positions = this.pages.map((page) => bytesOf(page.positions.subarray(0, page.count)));
    return [...positions, ...this.rowSections()];
  }

  clear(): void {
    this.pages.length = 0;
    this.total = 0;
  }
}

/** The bytes of a typed array (a view, no copy). */
export function bytesOf(a: FpData | Int32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
