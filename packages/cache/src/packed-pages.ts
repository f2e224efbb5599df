import {
  type KvSegment,
  metaBytesPerUnit,
  type PackedSegment,
  type QuantLayout,
  rowCodeBytes,
  tokensPerMetaUnit,
} from '@skvq/core';
import { POSITION_BYTES } from './fp-rows.js';
import { checkPageTokensLimit } from './limits.js';

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
    const bytesPerToken =
      this.rowBytes + Math.ceil(this.unitBytes / this.unitTokens) + POSITION_BYTES;
    checkPageTokensLimit(pageTokens, bytesPerToken, 'quantized cache pages');
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
}
