import type { StoreBuffer, StoreRows } from '@skvq/core';
import {
  allocFpStore,
  bytesOf,
  type CacheFpSegment,
  FP_BYTES,
  type FpData,
  type FpPrecision,
  readFpRows,
  type SectionPart,
  writeFpRows,
} from './fp-rows.js';
import { POSITION_BYTES } from './positions.js';
import { badSection, checkPositions, type SectionReader } from './section-reader.js';
import { type CacheStore, encodeRows, type StoreRowParts, viewOf } from './store.js';

/**
 * Tokens of a channel-block stream (KIVI keys) that left the window and wait, full
 * precision, until a whole block of `blockTokens` can be quantized together. The block's
 * rows are a store buffer allocated with the first waiting token and freed on clear.
 */
export class PendingBlock {
  private buffer: StoreBuffer | null = null;
  /** Host view of `buffer` (host storage only). */
  private data: FpData | null = null;
  readonly positions: Int32Array;
  count = 0;

  constructor(
    readonly blockTokens: number,
    readonly channels: number,
    readonly precision: FpPrecision,
    private readonly store: CacheStore,
  ) {
    this.positions = new Int32Array(blockTokens);
  }

  private get rowBytes(): number {
    return this.channels * FP_BYTES[this.precision];
  }

  private ensure(): StoreBuffer {
    if (this.buffer === null) {
      const { buffer, data } = allocFpStore(
        this.store,
        this.precision,
        this.blockTokens * this.channels,
      );
      this.buffer = buffer;
      this.data = data;
    }
    return this.buffer;
  }

  /** Adds up to the free room of host rows; returns how many were taken. */
  push(
    src: Float32Array,
    srcRow: number,
    rows: number,
    positions: ArrayLike<number>,
    posOffset: number,
  ): number {
    const n = Math.min(rows, this.blockTokens - this.count);
    const buffer = this.ensure();
    if (this.data !== null) writeFpRows(this.data, this.count, src, srcRow, n, this.channels);
    else {
      const bytes = encodeRows(this.precision, src, srcRow, n, this.channels);
      this.store.write(buffer, this.count * this.rowBytes, bytes);
    }
    this.takePositions(n, positions, posOffset);
    return n;
  }

  /** Adds up to the free room of rows held in the same store (storage.copy). */
  pushFromStore(
    src: StoreRowParts,
    srcRow: number,
    positions: ArrayLike<number>,
    posOffset: number,
  ): number {
    const n = Math.min(src.count - srcRow, this.blockTokens - this.count);
    src.slice(srcRow, n).copyTo(this.store, this.ensure(), this.count * this.rowBytes);
    this.takePositions(n, positions, posOffset);
    return n;
  }

  private takePositions(n: number, positions: ArrayLike<number>, posOffset: number): void {
    for (let i = 0; i < n; i++) this.positions[this.count + i] = positions[posOffset + i]!;
    this.count += n;
  }

  get full(): boolean {
    return this.count === this.blockTokens;
  }

  /**
   * The whole block (float32 host rows, or its rows in the store on a device) plus its
   * positions, and empties the area. On a device the rows stay in the block's buffer: the
   * quantize kernel is queued before any later write into it.
   */
  take(): { x: Float32Array | StoreRows; positions: Int32Array } {
    const positions = this.positions.slice(0, this.count);
    const x: Float32Array | StoreRows =
      this.data !== null
        ? readFpRows(this.data, 0, this.count, this.channels)
        : { view: viewOf(this.buffer!, 0, this.count * this.rowBytes), precision: this.precision };
    this.count = 0;
    return { x, positions };
  }

  segments(limit = Number.POSITIVE_INFINITY): CacheFpSegment[] {
    let n = 0;
    while (n < this.count && this.positions[n]! < limit) n++;
    if (n === 0) return [];
    const positions = this.positions.subarray(0, n);
    const base = { kind: 'fp', count: n, precision: this.precision, positions } as const;
    if (this.data !== null) return [{ ...base, data: this.data }];
    return [{ ...base, data: viewOf(this.buffer!, 0, this.buffer!.byteLength) }];
  }

  heldBytes(): number {
    return this.count * (this.rowBytes + POSITION_BYTES);
  }

  /** The unused rows of the block (and their positions) while it is allocated. */
  slackBytes(): number {
    if (this.buffer === null) return 0;
    return (
      this.buffer.byteLength -
      this.count * this.rowBytes +
      (this.blockTokens - this.count) * POSITION_BYTES
    );
  }

  clear(): void {
    this.count = 0;
    this.store.release(this.buffer);
    this.buffer = null;
    this.data = null;
  }

  /** The waiting rows as float32 on the host (host storage only; restore checks). */
  hostRows(): Float32Array | null {
    return this.data === null ? null : readFpRows(this.data, 0, this.count, this.channels);
  }

  /** Saved section: positions (Int32), then rows in stored precision. */
  sections(): SectionPart[] {
    const rows =
      this.buffer === null
        ? new Uint8Array(0)
        : this.data !== null
          ? bytesOf(this.data.subarray(0, this.count * this.channels))
          : viewOf(this.buffer, 0, this.count * this.rowBytes);
    return [bytesOf(this.positions.subarray(0, this.count)), rows];
  }

  /**
   * Restores `count` waiting tokens from a saved section (fewer than a block); returns
   * their rows as stored (for the restore checks).
   */
  restore(reader: SectionReader, count: number, length: number): FpData {
    if (count >= this.blockTokens) {
      throw badSection(
        `${reader.name} pending count ${count} must be below the block of ${this.blockTokens} tokens`,
      );
    }
    const positions = reader.int32(count);
    checkPositions(positions, length, `${reader.name} pending`);
    const rows = reader.fp(this.precision, count * this.channels);
    if (count > 0) this.store.write(this.ensure(), 0, bytesOf(rows));
    this.positions.set(positions);
    this.count = count;
    return rows;
  }
}
