import {
  metaBytesPerUnit,
  type PackedSegment,
  type QuantLayout,
  rowCodeBytes,
  type StoreBuffer,
  type StorePackedSegment,
  tokensPerMetaUnit,
} from '@skvq/core';
import type { SectionPart } from './fp-rows.js';
import { checkPageTokensLimit } from './limits.js';
import {
  nextPageTokens,
  type PageGrowth,
  PagePositions,
  POSITION_BYTES,
  type PositionIdentity,
} from './positions.js';
import {
  badSection,
  checkFiniteMeta,
  checkPositions,
  type SectionReader,
} from './section-reader.js';
import { type CacheStore, viewOf } from './store.js';

export interface PackedPage {
  /** Store buffers of the codes and of the metadata (host or device). */
  codesBuffer: StoreBuffer;
  metaBuffer: StoreBuffer;
  /** [capacity, rowCodeBytes] packed codes: a host view of codesBuffer, null on a device. */
  codes: Uint8Array | null;
  /** [capacity / tokensPerMetaUnit, metaBytesPerUnit] scales and zeros (host view or null). */
  meta: Uint8Array | null;
  codeBytes: number;
  metaBytes: number;
  positions: PagePositions;
  capacity: number;
  count: number;
}

/** A packed segment over host arrays (host storage) or store views (device storage). */
export type CachePackedSegment = PackedSegment | StorePackedSegment;

/** Where `tokens` quantized tokens go: a page and the token offset inside it. */
export interface PageSlice {
  page: PackedPage;
  first: number;
  tokens: number;
}

/** Smallest packed page (rounded up to whole metadata units); pages grow from it. */
export const MIN_PAGE_TOKENS = 16;

/**
 * The quantized tokens of one stream of one layer, page by page: a page is allocated when
 * the last one is full, small first and larger as the stream grows (positions.ts,
 * nextPageTokens), up to `pageTokens`; pages are never copied as a whole and tokens never
 * re-quantized. Positions ascend; contiguous pages store none (views of the identity).
 */
export class PackedPages {
  readonly pages: PackedPage[] = [];
  readonly rowBytes: number;
  readonly unitBytes: number;
  readonly unitTokens: number;
  private readonly growth: PageGrowth;
  private total = 0;

  constructor(
    readonly layout: QuantLayout,
    readonly pageTokens: number,
    private readonly identity: PositionIdentity,
    private readonly store: CacheStore,
  ) {
    this.rowBytes = rowCodeBytes(layout);
    this.unitBytes = metaBytesPerUnit(layout);
    this.unitTokens = tokensPerMetaUnit(layout);
    const bytesPerToken =
      this.rowBytes + Math.ceil(this.unitBytes / this.unitTokens) + POSITION_BYTES;
    checkPageTokensLimit(pageTokens, bytesPerToken, 'quantized cache pages');
    const min = Math.min(
      pageTokens,
      Math.ceil(MIN_PAGE_TOKENS / this.unitTokens) * this.unitTokens,
    );
    this.growth = { first: min, min, max: pageTokens };
  }

  get count(): number {
    return this.total;
  }

  /**
   * Reserves room for `tokens` tokens at `positions[posOffset ..]` (a multiple of the
   * block size for channel-block layouts) and returns where each run goes; the caller's
   * kernels fill codes and metadata.
   */
  reserve(tokens: number, positions: ArrayLike<number>, posOffset: number): PageSlice[] {
    const out: PageSlice[] = [];
    let done = 0;
    while (done < tokens) {
      let page = this.pages[this.pages.length - 1];
      if (page === undefined || page.count === page.capacity) {
        const capacity = nextPageTokens(this.total + done, this.growth);
        const codeBytes = capacity * this.rowBytes;
        const metaBytes = (capacity / this.unitTokens) * this.unitBytes;
        const codesBuffer = this.store.allocate(codeBytes, 'codes');
        const metaBuffer = this.store.allocate(metaBytes, 'meta');
        const host = !this.store.device;
        page = {
          codesBuffer,
          metaBuffer,
          codes: host ? codesBuffer.host!.subarray(0, codeBytes) : null,
          meta: host ? metaBuffer.host!.subarray(0, metaBytes) : null,
          codeBytes,
          metaBytes,
          positions: new PagePositions(capacity),
          capacity,
          count: 0,
        };
        this.pages.push(page);
      }
      const n = Math.min(tokens - done, page.capacity - page.count);
      page.positions.write(page.count, positions, posOffset + done, n);
      out.push({ page, first: page.count, tokens: n });
      page.count += n;
      done += n;
    }
    this.total += tokens;
    if (tokens > 0) this.identity.cover(positions[posOffset + tokens - 1]! + 1);
    return out;
  }

  private segment(page: PackedPage, count: number): CachePackedSegment {
    const positions = page.positions.view(this.identity, count);
    if (page.codes === null || page.meta === null) {
      const codes = viewOf(page.codesBuffer, 0, page.codeBytes);
      const meta = viewOf(page.metaBuffer, 0, page.metaBytes);
      return { kind: 'packed', count, layout: this.layout, codes, meta, positions };
    }
    return {
      kind: 'packed',
      count,
      layout: this.layout,
      codes: page.codes,
      meta: page.meta,
      positions,
    };
  }

  segments(): CachePackedSegment[] {
    const out: CachePackedSegment[] = [];
    for (const page of this.pages) if (page.count > 0) out.push(this.segment(page, page.count));
    return out;
  }

  /**
   * Segments of the tokens at positions below `limit`, cut down to whole metadata units
   * (blocks); returns how many tokens below `limit` were left out by that cut.
   */
  segmentsBelow(limit: number): { segments: CachePackedSegment[]; cut: number } {
    const out: CachePackedSegment[] = [];
    for (const page of this.pages) {
      let n = 0;
      while (n < page.count && page.positions.at(n) < limit) n++;
      const whole = n - (n % this.unitTokens);
      if (whole > 0) out.push(this.segment(page, whole));
      if (n < page.count) return { segments: out, cut: n - whole };
    }
    return { segments: out, cut: 0 };
  }

  codeBytes(): number {
    return this.total * this.rowBytes;
  }

  /** Scales and zeros of the tokens held. */
  metaBytes(): number {
    return (this.total / this.unitTokens) * this.unitBytes;
  }

  /** Own positions of the tokens of pages that hold tokens out of order. */
  positionBytes(): number {
    let ownHeld = 0;
    for (const page of this.pages) if (page.positions.ownBytes() > 0) ownHeld += page.count;
    return ownHeld * POSITION_BYTES;
  }

  /** Allocated but unused: the free end of the last page (codes, metadata, own positions). */
  slackBytes(): number {
    let allocated = 0;
    for (const page of this.pages) {
      allocated +=
        page.codesBuffer.byteLength + page.metaBuffer.byteLength + page.positions.ownBytes();
    }
    return allocated - this.codeBytes() - this.metaBytes() - this.positionBytes();
  }

  clear(): void {
    for (const page of this.pages) {
      this.store.release(page.codesBuffer);
      this.store.release(page.metaBuffer);
    }
    this.pages.length = 0;
    this.total = 0;
  }

  /** Saved section: positions (Int32), codes, metadata of every page, back to back. */
  sections(): SectionPart[] {
    const held = this.pages;
    const positions = new Int32Array(this.total);
    let at = 0;
    for (const page of held)
      for (let i = 0; i < page.count; i++) positions[at++] = page.positions.at(i);
    const codes = (page: PackedPage) => page.count * this.rowBytes;
    const meta = (page: PackedPage) => (page.count / this.unitTokens) * this.unitBytes;
    return [
      new Uint8Array(positions.buffer),
      ...held.map(
        (page) => page.codes?.subarray(0, codes(page)) ?? viewOf(page.codesBuffer, 0, codes(page)),
      ),
      ...held.map(
        (page) => page.meta?.subarray(0, meta(page)) ?? viewOf(page.metaBuffer, 0, meta(page)),
      ),
    ];
  }

  /** Bytes of the saved section of `tokens` quantized tokens of `layout`. */
  static sectionBytes(layout: QuantLayout, tokens: number): number {
    return (
      tokens * (POSITION_BYTES + rowCodeBytes(layout)) +
      (tokens / tokensPerMetaUnit(layout)) * metaBytesPerUnit(layout)
    );
  }

  /** Restores `tokens` quantized tokens (whole metadata units) from a saved section. */
  restore(reader: SectionReader, tokens: number, length: number): void {
    if (tokens % this.unitTokens !== 0) {
      throw badSection(
        `${reader.name} quantized count ${tokens} is not a multiple of ${this.unitTokens} tokens per metadata unit`,
      );
    }
    const positions = reader.int32(tokens);
    checkPositions(positions, length, `${reader.name} quantized`);
    const codes = reader.take(tokens * this.rowBytes);
    const meta = reader.take((tokens / this.unitTokens) * this.unitBytes);
    checkFiniteMeta(meta, this.layout.meta, `${reader.name} quantized`);
    let done = 0;
    for (const slice of this.reserve(tokens, positions, 0)) {
      this.store.write(
        slice.page.codesBuffer,
        slice.first * this.rowBytes,
        codes.subarray(done * this.rowBytes, (done + slice.tokens) * this.rowBytes),
      );
      const u0 = done / this.unitTokens;
      const u1 = (done + slice.tokens) / this.unitTokens;
      this.store.write(
        slice.page.metaBuffer,
        (slice.first / this.unitTokens) * this.unitBytes,
        meta.subarray(u0 * this.unitBytes, u1 * this.unitBytes),
      );
      done += slice.tokens;
    }
  }
}
