import type { FpSegment } from '@skvq/core';
import {
  allocFp,
  FP_BYTES,
  type FpData,
  type FpPrecision,
  POSITION_BYTES,
  readFpRows,
  writeFpRows,
} from './fp-rows.js';
import { checkWindowLimit } from './limits.js';

/**
 * The full-precision recent window of one layer (keys and values): the last `window`
 * tokens, contiguous and in ascending position order. The buffer holds 2 * window rows:
 * new rows go at the end; when the end is reached, the live rows move to the front once
 * (at most `window` rows per `window` appended tokens, so one row copy per token amortised)
 * instead of shifting on every token.
 */
export class WindowBuffer {
  readonly capacity: number;
  readonly k: FpData;
  readonly v: FpData;
  readonly positions: Int32Array;
  head = 0;
  count = 0;

  constructor(
    readonly window: number,
    readonly channels: number,
    readonly precision: FpPrecision,
  ) {
    checkWindowLimit(window, channels, precision, 'quantized cache window');
    this.capacity = 2 * window;
    this.k = allocFp(precision, this.capacity * channels);
    this.v = allocFp(precision, this.capacity * channels);
    this.positions = new Int32Array(this.capacity);
  }

  /** Position of the oldest token held (only when count > 0). */
  firstPosition(): number {
    return this.positions[this.head]!;
  }

  /** Copies of rows [head + first, head + first + rows) as float32 (for quantization). */
  readK(first: number, rows: number): Float32Array {
    return readFpRows(this.k, this.head + first, rows, this.channels);
  }

  readV(first: number, rows: number): Float32Array {
    return readFpRows(this.v, this.head + first, rows, this.channels);
  }

  /** Drops the `rows` oldest tokens (they left the window). */
  dropFront(rows: number): void {
    this.head += rows;
    this.count -= rows;
    if (this.count === 0) this.head = 0;
  }

  /** Appends float32 rows src[srcRow ..) at consecutive positions from `firstPosition`. */
  append(
    k: Float32Array,
    v: Float32Array,
    srcRow: number,
    rows: number,
    firstPosition: number,
  ): void {
    if (rows === 0) return;
    if (this.head + this.count + rows > this.capacity) this.compact();
    const at = this.head + this.count;
    writeFpRows(this.k, at, k, srcRow, rows, this.channels);
    writeFpRows(this.v, at, v, srcRow, rows, this.channels);
    for (let i = 0; i < rows; i++) this.positions[at + i] = firstPosition + i;
    this.count += rows;
  }

  /** Restores stored rows (load): same precision, consecutive positions. */
  appendStored(k: FpData, v: FpData, rows: number, firstPosition: number): void {
    const at = this.head + this.count;
    const ch = this.channels;
    (this.k as Float32Array).set((k as Float32Array).subarray(0, rows * ch), at * ch);
    (this.v as Float32Array).set((v as Float32Array).subarray(0, rows * ch), at * ch);
    for (let i = 0; i < rows; i++) this.positions[at + i] = firstPosition + i;
    this.count += rows;
  }

  private compact(): void {
    const ch = this.channels;
    this.k.copyWithin(0, this.head * ch, (this.head + this.count) * ch);
    this.v.copyWithin(0, this.head * ch, (this.head + this.count) * ch);
    this.positions.copyWithin(0, this.head, this.head + this.count);
    this.head = 0;
  }

  /** Segments of the tokens at positions below `limit` (all of them by default). */
  segments(limit = Number.POSITIVE_INFINITY): { k: FpSegment[]; v: FpSegment[] } {
    let n = 0;
    while (n < this.count && this.positions[this.head + n]! < limit) n++;
    if (n === 0) return { k: [], v: [] };
    const ch = this.channels;
    const from = this.head * ch;
    const positions = this.positions.subarray(this.head, this.head + n);
    const seg = (data: FpData): FpSegment => ({
      kind: 'fp',
      count: n,
      precision: this.precision,
      data: data.subarray(from, from + n * ch),
      positions,
    });
    return { k: [seg(this.k)], v: [seg(this.v)] };
  }

  /** Stored rows of one stream (for save). */
  stored(stream: 'k' | 'v'): FpData {
    const ch = this.channels;
    const data = stream === 'k' ? this.k : this.v;
    return data.subarray(this.head * ch, (this.head + this.count) * ch);
  }

  /** Bytes held per stream (values and positions). */
  heldBytesPerStream(): number {
    return this.count * (this.channels * FP_BYTES[this.precision] + POSITION_BYTES);
  }

  slackBytesPerStream(): number {
    return (
      (this.capacity - this.count) * (this.channels * FP_BYTES[this.precision] + POSITION_BYTES)
    );
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
