import {
  type KvSegment,
  metaBytesPerUnit,
  type PackedSegment,
  type QuantLayout,
  rowCodeBytes,
  tokensPerMetaUnit,
} from '@skvq/core';
import { bytesOf, POSITION_BYTES } from './fp-rows.js';
import { badSection, checkPositions, type SectionReader } from './section-reader.js';

export interface PackedPage {
  /** [pageTokens, rowCodeBytes] packed codes. */
  codes: Uint8Array;
  /** [pageTokens / tokensPerMetaUnit, metaBytesPerUnit] scales and zeros. */
  meta: Uint8Array;
  positions: Int32Array;
  count: number;
}

/** Where `tokens` quantized tokens go: a page and the token offset inside it. */
export interface PageSlice {
  page: PackedPage;
  first: number;
  tokens: number;
}

/**
 * The quantized tokens of one stream of one layer, page by page: a page is allocated when
 * the last one is full; pages are never copied as a whole and tokens never re-quantized.
 * Positions are ascending.
 */
export class PackedPages {
  readonly pages: PackedPage[] = [];
  readonly rowBytes: number;
  readonly unitBytes: number;
  readonly unitTokens: number;
  private total = 0;

  constructor(
    readonly layout: QuantLayout,
    readonly pageTokens: number,
  ) {
    this.rowBytes = rowCodeBytes(layout);
    this.unitBytes = metaBytesPerUnit(layout);
    this.unitTokens = tokensPerMetaUnit(layout);
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
      if (page === undefined || page.count === this.pageTokens) {
        page = {
          codes: new Uint8Array(this.pageTokens * this.rowBytes),
          meta: new Uint8Array((this.pageTokens / this.unitTokens) * this.unitBytes),
          positions: new Int32Array(this.pageTokens),
          count: 0,
        };
        this.pages.push(page);
      }
      const n = Math.min(tokens - done, this.pageTokens - page.count);
      for (let i = 0; i < n; i++) page.positions[page.count + i] = positions[posOffset + done + i]!;
      out.push({ page, first: page.count, tokens: n });
      page.count += n;
      done += n;
    }
    this.total += tokens;
    return out;
  }

  private segment(page: PackedPage, count: number): PackedSegment {
    return {
      kind: 'packed',
      count,
      layout: this.layout,
      codes: page.codes,
      meta: page.meta,
      positions: page.positions.subarray(0, count),
    };
  }

  segments(): KvSegment[] {
    const out: KvSegment[] = [];
    for (const page of this.pages) if (page.count > 0) out.push(this.segment(page, page.count));
    return out;
  }

  /**
   * Segments of the tokens at positions below `limit`, cut down to whole metadata units
   * (blocks); returns how many tokens below `limit` were left out by that cut.
   */
  segmentsBelow(limit: number): { segments: KvSegment[]; cut: number } {
    const out: KvSegment[] = [];
    for (const page of this.pages) {
      let n = 0;
      while (n < page.count && page.positions[n]! < limit) n++;
      const whole = n - (n % this.unitTokens);
      if (whole > 0) out.push(this.segment(page, whole));
      if (n < page.count) return { segments: out, cut: n - whole };
    }
    return { segments: out, cut: 0 };
  }

  codeBytes(): number {
    return this.total * this.rowBytes;
  }

  /** Scales/zeros plus the Int32 position of each token. */
  metaBytes(): number {
    return (this.total / this.unitTokens) * this.unitBytes + this.total * POSITION_BYTES;
  }

  slackBytes(): number {
    const perPage =
      this.pageTokens * (this.rowBytes + POSITION_BYTES) +
      (this.pageTokens / this.unitTokens) * this.unitBytes;
    return this.pages.length * perPage - this.codeBytes() - this.metaBytes();
  }

  clear(): void {
    this.pages.length = 0;
    this.total = 0;
  }

  /** Saved section: positions (Int32), codes, metadata of every page, back to back. */
  sections(): Uint8Array[] {
    const held = this.pages;
    return [
      ...held.map((page) => bytesOf(page.positions.subarray(0, page.count))),
      ...held.map((page) => page.codes.subarray(0, page.count * this.rowBytes)),
      ...held.map((page) => page.meta.subarray(0, (page.count / this.unitTokens) * this.unitBytes)),
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
    let done = 0;
    for (const slice of this.reserve(tokens, positions, 0)) {
      slice.page.codes.set(
        codes.subarray(done * this.rowBytes, (done + slice.tokens) * this.rowBytes),
        slice.first * this.rowBytes,
      );
      const u0 = done / this.unitTokens;
      const u1 = (done + slice.tokens) / this.unitTokens;
      slice.page.meta.set(
        meta.subarray(u0 * this.unitBytes, u1 * this.unitBytes),
        (slice.first / this.unitTokens) * this.unitBytes,
      );
      done += slice.tokens;
    }
  }
}
