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

/**
 * Tokens of a channel-block stream (KIVI keys) that left the window and wait, full
 * precision, until a whole block of `blockTokens` can be quantized together.
 */
export class PendingBlock {
  readonly data: FpData;
  readonly positions: Int32Array;
  count = 0;

  constructor(
    readonly blockTokens: number,
    readonly channels: number,
    readonly precision: FpPrecision,
  ) {
    this.data = allocFp(precision, blockTokens * channels);
    this.positions = new Int32Array(blockTokens);
  }

  /** Adds up to the free room of rows; returns how many were taken. */
  push(
    src: Float32Array,
    srcRow: number,
    rows: number,
    positions: ArrayLike<number>,
    posOffset: number,
  ): number {
    const n = Math.min(rows, this.blockTokens - this.count);
    writeFpRows(this.data, this.count, src, srcRow, n, this.channels);
    for (let i = 0; i < n; i++) this.positions[this.count + i] = positions[posOffset + i]!;
    this.count += n;
    return n;
  }

  get full(): boolean {
    return this.count === this.blockTokens;
  }

  /** The whole block as float32 plus its positions, and empties the area. */
  take(): { x: Float32Array; positions: Int32Array } {
    const out = {
      x: readFpRows(this.data, 0, this.count, this.channels),
      positions: this.positions.slice(0, this.count),
    };
    this.count = 0;
    return out;
  }

  segments(limit = Number.POSITIVE_INFINITY): FpSegment[] {
    let n = 0;
    while (n < this.count && this.positions[n]! < limit) n++;
    if (n === 0) return [];
    return [
      {
        kind: 'fp',
        count: n,
        precision: this.precision,
        data: this.data,
        positions: this.positions.subarray(0, n),
      },
    ];
  }

  heldBytes(): number {
    return this.count * (this.channels * FP_BYTES[this.precision] + POSITION_BYTES);
  }

  slackBytes(): number {
    return (
      (this.blockTokens - this.count) * (this.channels * FP_BYTES[this.precision] + POSITION_BYTES)
    );
  }

  clear(): void {
    this.count = 0;
  }
}
