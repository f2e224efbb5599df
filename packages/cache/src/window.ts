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
import { checkWindowLimit } from './limits.js';
import type { PositionIdentity } from './positions.js';
import { badSection, type SectionReader } from './section-reader.js';

/**
 * The ring grows in steps of this many rows until it holds the policy's window: at most
 * 7 unused rows before the window first fills, none after. Each step copies the rows held
 * (at most window / 8 copies of at most `window` rows, once per layer: negligible).
 */
const WINDOW_GROWTH_ROWS = 8;

/**
 * The full-precision recent window of one layer (keys and values): the last `window`
 * tokens, contiguous positions. A ring of at most `window` rows: a token leaving frees its
 * row for the next one, so a full window has no slack and nothing is shifted. Before the
 * window fills, the ring grows in steps of 8 rows (WINDOW_GROWTH_ROWS). Positions are
 * implicit: views of the cache's identity array. Segments are the one or two contiguous
 * parts of the ring.
 */
export class WindowBuffer {
  private k: FpData;
  private v: FpData;
  private capacity: number;
  /** Position of the oldest row (when count > 0); position p lives in ring row p % capacity. */
  private first = 0;
  count = 0;

  constructor(
    readonly window: number,
    readonly channels: number,
    readonly precision: FpPrecision,
    private readonly identity: PositionIdentity,
  ) {
    checkWindowLimit(window, channels, precision, 'quantized cache window');
    this.capacity = 0;
    this.k = allocFp(precision, 0);
    this.v = allocFp(precision, 0);
  }

  /**
   * The ring row of the token `i` rows after the oldest. Rows are placed by position
   * (p % capacity), so a restored window has the same layout, and the kernels see the same
   * segments, as the one that was saved: attention stays bit-identical across save/load.
   */
  private slot(i: number): number {
    return (this.first + i) % this.capacity;
  }

  /** A float32 copy of the held rows first .. first+rows-1 (0 = oldest), for quantization. */
  read(stream: 'k' | 'v', first: number, rows: number): Float32Array {
    const data = stream === 'k' ? this.k : this.v;
    const ch = this.channels;
    const start = this.slot(first);
    const direct = Math.min(rows, this.capacity - start);
    if (direct === rows) return readFpRows(data, start, rows, ch);
    const out = new Float32Array(rows * ch);
    out.set(readFpRows(data, start, direct, ch), 0);
    out.set(readFpRows(data, 0, rows - direct, ch), direct * ch);
    return out;
  }

  /** Drops the `rows` oldest tokens (they left the window). */
  dropFront(rows: number): void {
    this.first += rows;
    this.count -= rows;
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
    if (this.count === 0) this.first = firstPosition;
    this.identity.cover(firstPosition + rows);
    if (this.count + rows > this.capacity) this.grow(this.count + rows);
    const ch = this.channels;
    let done = 0;
    while (done < rows) {
      const at = this.slot(this.count);
      const n = Math.min(rows - done, this.capacity - at);
      writeFpRows(this.k, at, k, srcRow + done, n, ch);
      writeFpRows(this.v, at, v, srcRow + done, n, ch);
      this.count += n;
      done += n;
    }
  }

  /** Reallocates to hold `rows` (whole growth steps, at most `window`). */
  private grow(rows: number): void {
    const steps = Math.ceil(rows / WINDOW_GROWTH_ROWS);
    const capacity = Math.min(steps * WINDOW_GROWTH_ROWS, this.window);
    const ch = this.channels;
    const k = allocFp(this.precision, capacity * ch);
    const v = allocFp(this.precision, capacity * ch);
    const parts = this.parts(this.count);
    let position = this.first;
    for (const [start, n] of parts) {
      for (let i = 0; i < n; i++) {
        const from = (start + i) * ch;
        const to = ((position + i) % capacity) * ch;
        (k as Float32Array).set((this.k as Float32Array).subarray(from, from + ch), to);
        (v as Float32Array).set((this.v as Float32Array).subarray(from, from + ch), to);
      }
      position += n;
    }
    this.k = k;
    this.v = v;
    this.capacity = capacity;
  }

  /** The ring ranges [start, count] of the `n` oldest rows (one or two). */
  private parts(n: number): [number, number][] {
    if (n === 0) return [];
    const start = this.slot(0);
    const direct = Math.min(n, this.capacity - start);
    return direct === n
      ? [[start, n]]
      : [
          [start, direct],
          [0, n - direct],
        ];
  }

  /** Segments of the tokens at positions below `limit` (all of them by default). */
  segments(limit = Number.POSITIVE_INFINITY): { k: FpSegment[]; v: FpSegment[] } {
    const n = Math.max(0, Math.min(this.count, limit - this.first));
    const ch = this.channels;
    const out: { k: FpSegment[]; v: FpSegment[] } = { k: [], v: [] };
    let position = this.first;
    for (const [start, rows] of this.parts(n)) {
      const positions = this.identity.view(position, rows);
      for (const name of ['k', 'v'] as const) {
        out[name].push({
          kind: 'fp',
          count: rows,
          precision: this.precision,
          data: (name === 'k' ? this.k : this.v).subarray(start * ch, (start + rows) * ch),
          positions,
        });
      }
      position += rows;
    }
    return out;
  }

  /** Saved section: K rows, then V rows, oldest first, in stored precision. */
  sections(): Uint8Array[] {
    const ch = this.channels;
    const out: Uint8Array[] = [];
    for (const data of [this.k, this.v]) {
      for (const [start, n] of this.parts(this.count)) {
        out.push(bytesOf(data.subarray(start * ch, (start + n) * ch)));
      }
    }
    return out;
  }

  /** Bytes of the saved section of `rows` window tokens. */
  static sectionBytes(rows: number, channels: number, precision: FpPrecision): number {
    return 2 * rows * channels * FP_BYTES[precision];
  }

  /** Restores an empty window from its saved section: `rows` tokens ending at `length`. */
  restore(reader: SectionReader, rows: number, length: number): void {
    if (!Number.isInteger(rows) || rows < 0 || rows > this.window || rows > length) {
      throw badSection(
        `${reader.name} count ${String(rows)} is not in 0..${Math.min(this.window, length)}`,
      );
    }
    const ch = this.channels;
    const k = reader.fp(this.precision, rows * ch);
    const v = reader.fp(this.precision, rows * ch);
    reader.finish();
    this.clear();
    if (rows === 0) return;
    this.first = length - rows;
    this.identity.cover(length);
    this.grow(rows);
    for (const [start, n, from] of this.partsWithOffsets(rows)) {
      (this.k as Float32Array).set(
        (k as Float32Array).subarray(from * ch, (from + n) * ch),
        start * ch,
      );
      (this.v as Float32Array).set(
        (v as Float32Array).subarray(from * ch, (from + n) * ch),
        start * ch,
      );
    }
    this.count = rows;
  }

  /** parts(n) with the offset of each part among the n oldest rows. */
  private partsWithOffsets(n: number): [number, number, number][] {
    let offset = 0;
    return this.parts(n).map(([start, rows]) => {
      const out: [number, number, number] = [start, rows, offset];
      offset += rows;
      return out;
    });
  }

  /** Bytes held per stream (values; positions are implicit). */
  heldBytesPerStream(): number {
    return this.count * this.channels * FP_BYTES[this.precision];
  }

  /** Allocated rows not holding a token, per stream (only before the window first fills). */
  slackBytesPerStream(): number {
    return (this.capacity - this.count) * this.channels * FP_BYTES[this.precision];
  }

  /** Empties the window and frees its rows. */
  clear(): void {
    this.first = 0;
    this.count = 0;
    this.capacity = 0;
    this.k = allocFp(this.precision, 0);
    this.v = allocFp(this.precision, 0);
  }
}
