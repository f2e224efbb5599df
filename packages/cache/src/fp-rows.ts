import {
  type FpSegment,
  SkvqError,
  type StoreBuffer,
  type StoreFpSegment,
  type StoreView,
} from '@skvq/core';
import { decodeF16Array, encodeF16Array } from '@skvq/formats';

import {
  nextPageTokens,
  type PageGrowth,
  PagePositions,
  POSITION_BYTES,
  type PositionIdentity,
} from './positions.js';
import { type CacheStore, encodeRows, type StoreRowParts, viewOf } from './store.js';

/** How full-precision tokens are stored: float32, or binary16 bits in a Uint16Array. */
export type FpPrecision = 'fp32' | 'fp16';
export const FP_PRECISIONS: readonly FpPrecision[] = ['fp32', 'fp16'];

/** Bytes of one stored full-precision element. */
export const FP_BYTES: Readonly<Record<FpPrecision, number>> = { fp32: 4, fp16: 2 };

export type FpData = Float32Array | Uint16Array;

export function allocFp(precision: FpPrecision, elements: number): FpData {
  return precision === 'fp32' ? new Float32Array(elements) : new Uint16Array(elements);
}

/** The rows of a host-storage buffer as stored values (a view over `buffer.host`). */
export function hostFp(buffer: StoreBuffer, precision: FpPrecision, elements: number): FpData {
  const host = buffer.host!;
  return precision === 'fp32'
    ? new Float32Array(host.buffer, host.byteOffset, elements)
    : new Uint16Array(host.buffer, host.byteOffset, elements);
}

/** A store buffer of `elements` stored values, and its host view when it has one. */
export function allocFpStore(
  store: CacheStore,
  precision: FpPrecision,
  elements: number,
): { buffer: StoreBuffer; data: FpData | null } {
  const buffer = store.allocate(elements * FP_BYTES[precision], 'fp');
  return { buffer, data: store.device ? null : hostFp(buffer, precision, elements) };
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
  buffer: StoreBuffer;
  /** Host view of `buffer` (host storage); null on a device. */
  data: FpData | null;
  positions: PagePositions;
  capacity: number;
  count: number;
}

/**
 * Full-precision tokens kept for good (the dense cache, attention sinks, tokens a filter
 * rule keeps), stored page by page so that growing never copies what is already held.
 * Pages grow (positions.ts, nextPageTokens) from `growth.first` tokens; positions ascend,
 * and contiguous pages store none (views of the shared identity).
 */
export class FpPagedRows {
  readonly pages: FpPage[] = [];
  private total = 0;

  constructor(
    readonly channels: number,
    readonly precision: FpPrecision,
    private readonly growth: PageGrowth,
    private readonly identity: PositionIdentity,
    private readonly store: CacheStore,
  ) {}

  get count(): number {
    return this.total;
  }

  /** Tokens whose position is below `limit` (positions are ascending). */
  countBelow(limit: number): number {
    let n = 0;
    for (const page of this.pages) {
      if (page.count > 0 && page.positions.at(page.count - 1) < limit) {
        n += page.count;
        continue;
      }
      for (let i = 0; i < page.count && page.positions.at(i) < limit; i++) n++;
      break;
    }
    return n;
  }

  private lastPageWithRoom(): FpPage {
    const last = this.pages[this.pages.length - 1];
    if (last !== undefined && last.count < last.capacity) return last;
    const capacity = nextPageTokens(this.total, this.growth);
    const page: FpPage = {
      ...allocFpStore(this.store, this.precision, capacity * this.channels),
      positions: new PagePositions(capacity),
      capacity,
      count: 0,
    };
    this.pages.push(page);
    return page;
  }

  /** Appends rows src[srcRow .. srcRow+rows) at positions positions[posOffset ..]. */
  private appendWith(
    rows: number,
    positions: ArrayLike<number>,
    posOffset: number,
    write: (page: FpPage, done: number, n: number) => void,
  ): void {
    let done = 0;
    while (done < rows) {
      const page = this.lastPageWithRoom();
      const n = Math.min(rows - done, page.capacity - page.count);
      write(page, done, n);
      page.positions.write(page.count, positions, posOffset + done, n);
      page.count += n;
      this.total += n;
      done += n;
    }
    if (rows > 0) this.identity.cover(positions[posOffset + rows - 1]! + 1);
  }

  /** Appends float32 rows src[srcRow .. srcRow+rows) at positions positions[posOffset ..]. */
  appendFloat(
    src: Float32Array,
    srcRow: number,
    rows: number,
    positions: ArrayLike<number>,
    posOffset: number,
  ): void {
    const ch = this.channels;
    this.appendWith(rows, positions, posOffset, (page, done, n) => {
      if (page.data !== null) writeFpRows(page.data, page.count, src, srcRow + done, n, ch);
      else {
        const bytes = encodeRows(this.precision, src, srcRow + done, n, ch);
        this.store.write(page.buffer, page.count * this.rowBytes(), bytes);
      }
    });
  }

  /** Appends rows already in this store's precision (no re-rounding; restore of a file). */
  appendStored(
    src: FpData,
    srcRow: number,
    rows: number,
    positions: ArrayLike<number>,
    posOffset: number,
  ): void {
    const ch = this.channels;
    this.appendWith(rows, positions, posOffset, (page, done, n) => {
      const from = (srcRow + done) * ch;
      const bytes = bytesOf(src.subarray(from, from + n * ch));
      this.store.write(page.buffer, page.count * this.rowBytes(), bytes);
    });
  }

  /** Appends rows held in the same store (device: storage.copy, nothing crosses). */
  appendFromStore(src: StoreRowParts, positions: ArrayLike<number>, posOffset: number): void {
    this.appendWith(src.count, positions, posOffset, (page, done, n) =>
      src.slice(done, n).copyTo(this.store, page.buffer, page.count * this.rowBytes()),
    );
  }

  private segment(page: FpPage, count: number): CacheFpSegment {
    const positions = page.positions.view(this.identity, count);
    if (page.data === null) {
      const data = viewOf(page.buffer, 0, page.capacity * this.rowBytes());
      return { kind: 'fp', count, precision: this.precision, data, positions };
    }
    return { kind: 'fp', count, precision: this.precision, data: page.data, positions };
  }

  /** The segments as the cache's kernels get them (host arrays or store views). */
  cacheSegments(): CacheFpSegment[] {
    return this.pages.filter((p) => p.count > 0).map((p) => this.segment(p, p.count));
  }

  /**
   * The segments with host arrays (host storage). Rows in device memory have none: a typed
   * error pointing to the caches' readSegments, which reads them back.
   */
  segments(): FpSegment[] {
    if (this.store.device) {
      throw new SkvqError(
        'UNSUPPORTED_OPTION',
        "full-precision rows: they live in device memory; use the cache's readSegments(layer)",
      );
    }
    return this.cacheSegments() as FpSegment[];
  }

  /** Segments holding exactly the tokens at positions below `limit`. */
  segmentsBelow(limit: number): CacheFpSegment[] {
    const out: CacheFpSegment[] = [];
    for (const page of this.pages) {
      let n = 0;
      while (n < page.count && page.positions.at(n) < limit) n++;
      if (n === 0) break;
      out.push(this.segment(page, n));
      if (n < page.count) break;
    }
    return out;
  }

  private rowBytes(): number {
    return this.channels * FP_BYTES[this.precision];
  }

  /** Bytes of the first `tokens` tokens held: values, and own positions where stored. */
  private heldBytesOf(tokens: number): number {
    let bytes = 0;
    let left = tokens;
    for (const page of this.pages) {
      const n = Math.min(left, page.count);
      bytes += n * (this.rowBytes() + (page.positions.ownBytes() > 0 ? POSITION_BYTES : 0));
      left -= n;
      if (left === 0) break;
    }
    return bytes;
  }

  /** Bytes of the tokens held (values, and own positions of out-of-order pages). */
  heldBytes(): number {
    return this.heldBytesOf(this.total);
  }

  /** Held bytes of the tokens at positions below `limit` (attention sinks). */
  heldBytesBelow(limit: number): number {
    return this.heldBytesOf(this.countBelow(limit));
  }

  /** Bytes allocated but not holding a token (the unused end of the last page). */
  slackBytes(): number {
    let allocated = 0;
    for (const page of this.pages) allocated += page.buffer.byteLength + page.positions.ownBytes();
    return allocated - this.heldBytes();
  }

  /** The held rows, page by page (saved sections; device pages are read back on save). */
  rowSections(): SectionPart[] {
    const bytes = (page: FpPage) => page.count * this.rowBytes();
    return this.pages.map((page) =>
      page.data === null
        ? viewOf(page.buffer, 0, bytes(page))
        : bytesOf(page.data.subarray(0, page.count * this.channels)),
    );
  }

  /** Saved section: every held position (Int32), then every held row. */
  sections(): SectionPart[] {
    const positions = new Int32Array(this.total);
    let at = 0;
    for (const page of this.pages) {
      for (let i = 0; i < page.count; i++) positions[at++] = page.positions.at(i);
    }
    return [bytesOf(positions), ...this.rowSections()];
  }

  clear(): void {
    for (const page of this.pages) this.store.release(page.buffer);
    this.pages.length = 0;
    this.total = 0;
  }
}

/** An fp segment over host arrays (host storage) or store views (device storage). */
export type CacheFpSegment = FpSegment | StoreFpSegment;

/** What a part of a saved section is: host bytes, or a store view read back on save. */
export type SectionPart = Uint8Array | StoreView;

/** The bytes of a typed array (a view, no copy). */
export function bytesOf(a: FpData | Int32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
