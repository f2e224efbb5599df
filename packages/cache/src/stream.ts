import type { MaybePromise, QuantLayout, StoreRows } from '@skvq/core';
import type { ByteParts } from './bytes.js';
import {
  type CacheFpSegment,
  FP_BYTES,
  FpPagedRows,
  type FpPrecision,
  readFpRows,
  type SectionPart,
} from './fp-rows.js';
import type { CacheKernels, CacheSegment } from './kernels.js';
import { type CachePackedSegment, PackedPages, type PageSlice } from './packed-pages.js';
import { PendingBlock } from './pending.js';
import { type PageGrowth, POSITION_BYTES, type PositionIdentity } from './positions.js';
import { quantizableMagnitude, rowsWithin } from './representable.js';
import { badSection, checkPositions, type SectionReader } from './section-reader.js';
import { type CacheStore, type MoveRows, viewOf } from './store.js';

/** Token counts of one stream: what its saved section holds. */
export interface StreamCounts {
  kept: number;
  pending: number;
  quantized: number;
}

/** What a stream is built from (the same for a new stream and a restored one). */
export interface StreamConfig {
  layout: QuantLayout;
  channels: number;
  precision: FpPrecision;
  /** Largest packed page (pages grow up to it). */
  pageTokens: number;
  /** Page sizes of the kept full-precision tokens (the first one fits the sinks). */
  keptGrowth: PageGrowth;
  /** The cache's shared identity positions. */
  identity: PositionIdentity;
  /** Where the stream's bytes live (the backend's storage). */
  store: CacheStore;
}

/**
 * A block handed to the quantize kernel: its rows (float32 on the host, or where they wait
 * in the store on a device) and positions.
 */
export type QuantizedBlock = { x: Float32Array | StoreRows; positions: Int32Array };

/** The parts of a stream below a position ('original' prefill attention). */
export interface StreamPartsBelow {
  kept: CacheFpSegment[];
  packed: CachePackedSegment[];
  /** Tokens below the limit left out because their block also holds later tokens. */
  cut: number;
  pending: CacheFpSegment[];
}

/**
 * One stream (K or V) of one layer outside the window: full-precision kept tokens (sinks and
 * what filter rules keep), packed pages of quantized tokens and, for channel-block layouts,
 * the pending block of tokens waiting to be quantized together. It quantizes through the
 * cache's kernels, accounts its bytes, and writes and restores its own saved section.
 */
export class QuantizedStream {
  readonly layout: QuantLayout;
  readonly pages: PackedPages;
  readonly kept: FpPagedRows;
  readonly pending: PendingBlock | null;
  private readonly channels: number;

  constructor(config: StreamConfig) {
    const { layout, channels, precision, store } = config;
    this.layout = layout;
    this.channels = channels;
    this.pages = new PackedPages(layout, config.pageTokens, config.identity, store);
    this.kept = new FpPagedRows(channels, precision, config.keptGrowth, config.identity, store);
    this.pending =
      layout.kind === 'channel-block'
        ? new PendingBlock(layout.blockTokens, channels, precision, store)
        : null;
  }

  get counts(): StreamCounts {
    return {
      kept: this.kept.count,
      pending: this.pending?.count ?? 0,
      quantized: this.pages.count,
    };
  }

  /** Keeps rows at full precision for good (device rows are copied inside the store). */
  keep(x: MoveRows, count: number, positions: Int32Array): void {
    if (x instanceof Float32Array) this.kept.appendFloat(x, 0, count, positions, 0);
    else this.kept.appendFromStore(x, positions, 0);
  }

  /**
   * Quantizes rows that left the window into pages (through the pending block for
   * channel-block layouts); kernel results go to `results`, each quantized block to
   * `onBlock` (the 'original' prefill bookkeeping needs the blocks that straddle a chunk).
   * Host rows go to the backend's kernels (host storage) or are uploaded by the store
   * kernels (a prefill's tokens that never entered the window); rows already in the store
   * are quantized where they are.
   */
  quantize(
    kernels: CacheKernels,
    x: MoveRows,
    count: number,
    positions: Int32Array,
    results: MaybePromise<void>[],
    onBlock?: (block: QuantizedBlock) => void,
  ): void {
    const { layout, pages } = this;
    if (layout.kind === 'token-group') {
      let row = 0;
      for (const slice of pages.reserve(count, positions, 0)) {
        this.quantizeSlice(kernels, x, row, slice, results);
        row += slice.tokens;
      }
      return;
    }
    const pending = this.pending!;
    let row = 0;
    while (row < count) {
      row +=
        x instanceof Float32Array
          ? pending.push(x, row, count - row, positions, row)
          : pending.pushFromStore(x, row, positions, row);
      if (!pending.full) break;
      const block = pending.take();
      const [slice] = pages.reserve(layout.blockTokens, block.positions, 0);
      const page = slice!.page;
      const metaOffset = (slice!.first / layout.blockTokens) * pages.unitBytes;
      const codesOffset = slice!.first * pages.rowBytes;
      if (block.x instanceof Float32Array) {
        results.push(
          kernels.quantizeBlock({
            layout,
            x: block.x,
            codes: page.codes!,
            codesOffset,
            meta: page.meta!,
            metaOffset,
          }),
        );
      } else {
        results.push(
          kernels.quantizeBlockInStore({
            layout,
            x: block.x,
            codes: viewOf(page.codesBuffer, codesOffset, layout.blockTokens * pages.rowBytes),
            meta: viewOf(page.metaBuffer, metaOffset, pages.unitBytes),
          }),
        );
      }
      onBlock?.(block);
    }
  }

  /** Token-group quantization of rows [row, row+slice.tokens) of `x` into one page slice. */
  private quantizeSlice(
    kernels: CacheKernels,
    x: MoveRows,
    row: number,
    slice: PageSlice,
    results: MaybePromise<void>[],
  ): void {
    const { layout, pages, channels } = this;
    if (layout.kind !== 'token-group') return;
    const { page, first, tokens } = slice;
    if (page.codes !== null && page.meta !== null && x instanceof Float32Array) {
      results.push(
        kernels.quantizeTokens({
          layout,
          x: x.subarray(row * channels, (row + tokens) * channels),
          count: tokens,
          codes: page.codes,
          codesOffset: first * pages.rowBytes,
          meta: page.meta,
          metaOffset: first * pages.unitBytes,
        }),
      );
      return;
    }
    // device: one call per contiguous source (a window ring may wrap inside the slice)
    const sources =
      x instanceof Float32Array
        ? [{ rows: x.subarray(row * channels, (row + tokens) * channels), count: tokens }]
        : x.slice(row, tokens).rows();
    let at = first;
    for (const source of sources) {
      results.push(
        kernels.quantizeTokensInStore({
          layout,
          x: source.rows,
          count: source.count,
          codes: viewOf(page.codesBuffer, at * pages.rowBytes, source.count * pages.rowBytes),
          meta: viewOf(page.metaBuffer, at * pages.unitBytes, source.count * pages.unitBytes),
        }),
      );
      at += source.count;
    }
  }

  /** Kept, packed and pending segments (the window follows them). */
  segments(): CacheSegment[] {
    return [
      ...this.kept.cacheSegments(),
      ...this.pages.segments(),
      ...(this.pending?.segments() ?? []),
    ];
  }

  partsBelow(limit: number): StreamPartsBelow {
    const packed = this.pages.segmentsBelow(limit);
    return {
      kept: this.kept.segmentsBelow(limit),
      packed: packed.segments,
      cut: packed.cut,
      pending: this.pending?.segments(limit) ?? [],
    };
  }

  /** Adds this stream's bytes; kept tokens at positions below `sinks` count as sinks. */
  addBytes(parts: ByteParts, sinks: number): void {
    parts.codes += this.pages.codeBytes();
    parts.metadata += this.pages.metaBytes();
    parts.positions += this.pages.positionBytes();
    parts.pageSlack +=
      this.pages.slackBytes() + this.kept.slackBytes() + (this.pending?.slackBytes() ?? 0);
    const sinkBytes = this.kept.heldBytesBelow(sinks);
    parts.sinks += sinkBytes;
    parts.keptFp += this.kept.heldBytes() - sinkBytes + (this.pending?.heldBytes() ?? 0);
  }

  clear(): void {
    this.pages.clear();
    this.kept.clear();
    this.pending?.clear();
  }

  /**
   * The stream's saved section: kept positions (Int32) and rows, pending positions and rows
   * (channel-block layouts only), quantized positions (Int32), packed codes (rowCodeBytes
   * per token), metadata (per unit). Pages are written back to back and re-paged on load.
   */
  sections(): SectionPart[] {
    const out: SectionPart[] = [...this.kept.sections()];
    if (this.pending !== null) out.push(...this.pending.sections());
    out.push(...this.pages.sections());
    return out;
  }

  /** Bytes of the section `counts` describe (to frame version-1 files and check counts). */
  static sectionBytes(
    config: Pick<StreamConfig, 'layout' | 'channels' | 'precision'>,
    counts: StreamCounts,
  ): number {
    const fpRow = config.channels * FP_BYTES[config.precision] + POSITION_BYTES;
    const pending = config.layout.kind === 'channel-block' ? counts.pending : 0;
    return (
      (counts.kept + pending) * fpRow + PackedPages.sectionBytes(config.layout, counts.quantized)
    );
  }

  /**
   * A stream rebuilt from its saved section. Each count is checked against the bytes present
   * (and the section must be used up exactly), positions must ascend below `length`, and the
   * pending block must hold less than a block; anything else is FILE_CORRUPTED.
   */
  static restore(
    config: StreamConfig,
    counts: StreamCounts,
    reader: SectionReader,
    length: number,
  ): QuantizedStream {
    for (const [name, n] of Object.entries(counts)) {
      if (!Number.isInteger(n) || n < 0 || n > length) {
        throw badSection(`${reader.name} ${name} count ${String(n)} is not in 0..${length}`);
      }
    }
    const expected = QuantizedStream.sectionBytes(config, counts);
    if (expected !== reader.remaining) {
      throw badSection(
        `${reader.name} counts (${JSON.stringify(counts)}) need ${expected} bytes; the section has ${reader.remaining}`,
        { section: reader.name, expected, present: reader.remaining },
      );
    }
    const stream = new QuantizedStream(config);
    const keptPositions = reader.int32(counts.kept);
    checkPositions(keptPositions, length, `${reader.name} kept`);
    stream.kept.appendStored(
      reader.fp(config.precision, counts.kept * config.channels),
      0,
      counts.kept,
      keptPositions,
      0,
    );
    if (stream.pending !== null) {
      const stored = stream.pending.restore(reader, counts.pending, length);
      // append never lets a token the metadata cannot hold wait for quantization
      const rows = readFpRows(stored, 0, counts.pending, config.channels);
      const limit = quantizableMagnitude(config.layout);
      if (rowsWithin(rows, counts.pending, config.channels, limit).includes(false)) {
        throw badSection(
          `${reader.name} pending rows exceed what ${config.layout.meta} metadata holds`,
        );
      }
    } else if (counts.pending !== 0)
      throw badSection(`${reader.name}: a token-group stream has no pending tokens`);
    stream.pages.restore(reader, counts.quantized, length);
    reader.finish();
    return stream;
  }
}
