import type { FpSegment } from '@skvq/core';
import {
  allocFp,
  bytesOf,
  FP_BYTES,
  type FpData,
  type FpPrecision,
  readFpRows,
  writeFpRows,
} from './fp-rows.js';
import { POSITION_BYTES } from './positions.js';
import { badSection, checkPositions, type SectionReader } from './section-reader.js';

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

  /** Saved section: positions (Int32), then rows in stored precision. */
  sections(): Uint8Array[] {
    return [
      bytesOf(this.positions.subarray(0, this.count)),
      bytesOf(this.data.subarray(0, this.count * this.channels)),
    ];
  }

  /** Restores `count` waiting tokens from a saved section (fewer than a block). */
  restore(reader: SectionReader, count: number, length: number): void {
    if (count >= this.blockTokens) {
      throw badSection(
        `${reader.name} pending count ${count} must be below the block of ${this.blockTokens} tokens`,
      );
    }
    const positions = reader.int32(count);
    checkPositions(positions, length, `${reader.name} pending`);
    const rows = reader.fp(this.precision, count * this.channels);
    (this.data as Float32Array).set(rows as Float32Array);
    this.positions.set(positions);
    this.count = count;
  }
}
