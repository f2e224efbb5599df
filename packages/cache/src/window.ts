import type { StoreBuffer } from '@skvq/core';
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
import { checkWindowLimit } from './limits.js';
import type { PositionIdentity } from './positions.js';
import { badSection, type SectionReader } from './section-reader.js';
import { type CacheStore, decodeRows, encodeRows, StoreRowParts, viewOf } from './store.js';

/**
 * The ring grows in steps of this many rows until it holds the policy's window: at most
 * 7 unused rows before the window first fills, none after. Each step copies the rows held
 * (at most window / 8 copies of at most `window` rows, once per layer: negligible).
 */
const WINDOW_GROWTH_ROWS = 8;

/**
 * Which rows the metadata formats can quantize (representable.ts), decided on the host
 * from the rows as stored (the cache passes it on a device, where a leaving row is never
 * read back: its flag was set when it entered the window).
 */
export type QuantizableRows = (k: Float32Array, v: Float32Array, rows: number) => boolean[];

interface Ring {
  buffer: StoreBuffer;
  /** Host view (host storage); null on a device. */
  data: FpData | null;
}

/**
 * The full-precision recent window of one layer (keys and values): the last `window`
 * tokens, contiguous positions. A ring of at most `window` rows: a token leaving frees its
 * row for the next one, so a full window has no slack and nothing is shifted. Before the
 * window fills, the ring grows in steps of 8 rows (WINDOW_GROWTH_ROWS), copying in the
 * store (storage.copy). Positions are implicit: views of the cache's identity array.
 * Segments are the one or two contiguous parts of the ring. On a device, appended rows are
 * written once (storage.write, converted to the stored precision on the host) and leave as
 * store rows (rows()), never read back.
 */
export class WindowBuffer {
  private k: Ring | null = null;
  private v: Ring | null = null;
  private capacity = 0;
  /** Position of the oldest row (when count > 0); position p lives in ring row p % capacity. */
  private first = 0;
  count = 0;
  /** Device only: per ring row, whether K and V of that token can be quantized. */
  private flags = new Uint8Array(0);

  constructor(
    readonly window: number,
    readonly channels: number,
    readonly precision: FpPrecision,
    private readonly identity: PositionIdentity,
    private readonly store: CacheStore,
    private readonly quantizable: QuantizableRows | null = null,
  ) {
    checkWindowLimit(window, channels, precision, 'quantized cache window');
  }

  private get rowBytes(): number {
    return this.channels * FP_BYTES[this.precision];
  }

  private ring(stream: 'k' | 'v'): Ring {
    return (stream === 'k' ? this.k : this.v)!;
  }

  /**
   * The ring row of the token `i` rows after the oldest. Rows are placed by position
   * (p % capacity), so a restored window has the same layout, and the kernels see the same
   * segments, as the one that was saved: attention stays bit-identical across save/load.
   */
  private slot(i: number): number {
    return (this.first + i) % this.capacity;
  }

  /** A float32 copy of the held rows first .. first+rows-1 (0 = oldest), host storage. */
  read(stream: 'k' | 'v', first: number, rows: number): Float32Array {
    const data = this.ring(stream).data!;
    const ch = this.channels;
    const start = this.slot(first);
    const direct = Math.min(rows, this.capacity - start);
    if (direct === rows) return readFpRows(data, start, rows, ch);
    const out = new Float32Array(rows * ch);
    out.set(readFpRows(data, start, direct, ch), 0);
    out.set(readFpRows(data, 0, rows - direct, ch), direct * ch);
    return out;
  }

  /** The held rows first .. first+rows-1 (0 = oldest) where they are in the store (device). */
  rows(stream: 'k' | 'v', first: number, rows: number): StoreRowParts {
    const buffer = this.ring(stream).buffer;
    const start = this.slot(first);
    const direct = Math.min(rows, this.capacity - start);
    const rb = this.rowBytes;
    const parts = [viewOf(buffer, start * rb, direct * rb)];
    if (direct < rows) parts.push(viewOf(buffer, 0, (rows - direct) * rb));
    return new StoreRowParts(parts, this.precision, rb);
  }

  /** Whether each of the held rows first .. first+rows-1 can be quantized (device). */
  quantizableRows(first: number, rows: number): boolean[] {
    return Array.from({ length: rows }, (_, i) => this.flags[this.slot(first + i)] === 1);
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
      const kr = this.ring('k');
      const vr = this.ring('v');
      if (kr.data !== null && vr.data !== null) {
        writeFpRows(kr.data, at, k, srcRow + done, n, ch);
        writeFpRows(vr.data, at, v, srcRow + done, n, ch);
      } else {
        const kBytes = encodeRows(this.precision, k, srcRow + done, n, ch);
        const vBytes = encodeRows(this.precision, v, srcRow + done, n, ch);
        this.store.write(kr.buffer, at * this.rowBytes, kBytes);
        this.store.write(vr.buffer, at * this.rowBytes, vBytes);
        this.setFlags(at, kBytes, vBytes, n);
      }
      this.count += n;
      done += n;
    }
  }

  /** Device: records which of `n` rows stored at ring row `at` can be quantized. */
  private setFlags(at: number, kBytes: Uint8Array, vBytes: Uint8Array, n: number): void {
    if (this.quantizable === null) return;
    // decided on the values as stored (fp16-rounded), as the host path reads them back
    const ok = this.quantizable(
      decodeRows(this.precision, kBytes),
      decodeRows(this.precision, vBytes),
      n,
    );
    for (let i = 0; i < n; i++) this.flags[at + i] = ok[i] ? 1 : 0;
  }

  /** Reallocates to hold `rows` (whole growth steps, at most `window`). */
  private grow(rows: number): void {
    const steps = Math.ceil(rows / WINDOW_GROWTH_ROWS);
    const capacity = Math.min(steps * WINDOW_GROWTH_ROWS, this.window);
    const elements = capacity * this.channels;
    const k = allocFpStore(this.store, this.precision, elements);
    const v = allocFpStore(this.store, this.precision, elements);
    const flags = new Uint8Array(this.store.device ? capacity : 0);
    const rb = this.rowBytes;
    let position = this.first;
    for (const [start, n] of this.parts(this.count)) {
      // the part's rows go to rows position % capacity.. of the new ring (wrapping once)
      let done = 0;
      while (done < n) {
        const to = (position + done) % capacity;
        const m = Math.min(n - done, capacity - to);
        for (const [from, into] of [
          [this.k!, k],
          [this.v!, v],
        ] as const) {
          this.store.copy(viewOf(from.buffer, (start + done) * rb, m * rb), into.buffer, to * rb);
        }
        if (this.store.device) flags.set(this.flags.subarray(start + done, start + done + m), to);
        done += m;
      }
      position += n;
    }
    this.store.release(this.k?.buffer);
    this.store.release(this.v?.buffer);
    this.k = k;
    this.v = v;
    this.flags = flags;
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
  segments(limit = Number.POSITIVE_INFINITY): { k: CacheFpSegment[]; v: CacheFpSegment[] } {
    const n = Math.max(0, Math.min(this.count, limit - this.first));
    const ch = this.channels;
    const out: { k: CacheFpSegment[]; v: CacheFpSegment[] } = { k: [], v: [] };
    let position = this.first;
    for (const [start, rows] of this.parts(n)) {
      const positions = this.identity.view(position, rows);
      for (const name of ['k', 'v'] as const) {
        const ring = this.ring(name);
        const base = { kind: 'fp', count: rows, precision: this.precision, positions } as const;
        out[name].push(
          ring.data !== null
            ? { ...base, data: ring.data.subarray(start * ch, (start + rows) * ch) }
            : { ...base, data: viewOf(ring.buffer, start * this.rowBytes, rows * this.rowBytes) },
        );
      }
      position += rows;
    }
    return out;
  }

  /** Saved section: K rows, then V rows, oldest first, in stored precision. */
  sections(): SectionPart[] {
    const ch = this.channels;
    const out: SectionPart[] = [];
    for (const name of ['k', 'v'] as const) {
      for (const [start, n] of this.parts(this.count)) {
        const ring = this.ring(name);
        out.push(
          ring.data !== null
            ? bytesOf(ring.data.subarray(start * ch, (start + n) * ch))
            : viewOf(ring.buffer, start * this.rowBytes, n * this.rowBytes),
        );
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
    const rb = this.rowBytes;
    for (const [start, n, from] of this.partsWithOffsets(rows)) {
      const kBytes = bytesOf(k.subarray(from * ch, (from + n) * ch));
      const vBytes = bytesOf(v.subarray(from * ch, (from + n) * ch));
      this.store.write(this.k!.buffer, start * rb, kBytes);
      this.store.write(this.v!.buffer, start * rb, vBytes);
      if (this.store.device) this.setFlags(start, kBytes, vBytes, n);
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
    return this.count * this.rowBytes;
  }

  /** Allocated bytes not holding a token, per stream (only before the window first fills). */
  slackBytesPerStream(): number {
    return (this.k?.buffer.byteLength ?? 0) - this.count * this.rowBytes;
  }

  /** Empties the window and frees its rows. */
  clear(): void {
    this.first = 0;
    this.count = 0;
    this.capacity = 0;
    this.store.release(this.k?.buffer);
    this.store.release(this.v?.buffer);
    this.k = null;
    this.v = null;
    this.flags = new Uint8Array(0);
  }
}
