import type { KvStream, TokenPolicy } from '@skvq/core';
import type { ByteParts } from './bytes.js';
import type { CacheFpSegment, SectionPart } from './fp-rows.js';
import type { CacheSegment } from './kernels.js';
import type { OriginalChunk } from './original-prefill.js';
import { quantizableMagnitude, rowsWithin } from './representable.js';
import { badSection, SectionReader } from './section-reader.js';
import { QuantizedStream, type StreamConfig, type StreamCounts } from './stream.js';
import { WindowBuffer } from './window.js';

export const STREAMS: readonly KvStream[] = ['k', 'v'];

/** What the saved header records of one quantized layer. */
export interface LayerCounts {
  length: number;
  window: number;
  sinks: number;
  windowCount: number;
  k: StreamCounts;
  v: StreamCounts;
}

/** How to build one layer: its policy and the configuration of each stream. */
export interface LayerConfig {
  policy: TokenPolicy;
  channels: number;
  streams: Record<KvStream, StreamConfig>;
}

/** One layer of the quantized cache: its policy, window and two streams. */
export class CacheLayer {
  readonly policy: TokenPolicy;
  readonly window: WindowBuffer;
  readonly k: QuantizedStream;
  readonly v: QuantizedStream;
  length = 0;
  /** Last appended chunk, kept only for 'original' prefill attention. */
  lastChunk: OriginalChunk | null = null;

  constructor(config: LayerConfig, streams?: Record<KvStream, QuantizedStream>) {
    this.policy = config.policy;
    const { k, v } = config.streams;
    // on a device, which window rows can be quantized is decided when they enter (host rows)
    const kLimit = quantizableMagnitude(k.layout);
    const vLimit = quantizableMagnitude(v.layout);
    const quantizable = k.store.device
      ? (kRows: Float32Array, vRows: Float32Array, rows: number) => {
          const kOk = rowsWithin(kRows, rows, config.channels, kLimit);
          const vOk = rowsWithin(vRows, rows, config.channels, vLimit);
          return kOk.map((ok, i) => ok && vOk[i]!);
        }
      : null;
    this.window = new WindowBuffer(
      config.policy.window,
      config.channels,
      k.precision,
      k.identity,
      k.store,
      quantizable,
    );
    this.k = streams?.k ?? new QuantizedStream(config.streams.k);
    this.v = streams?.v ?? new QuantizedStream(config.streams.v);
  }

  stream(name: KvStream): QuantizedStream {
    return name === 'k' ? this.k : this.v;
  }

  /** Keys and values segments: kept (sinks) + pages + pending + window. */
  segments(): { keys: CacheSegment[]; values: CacheSegment[] } {
    const w = this.window.segments();
    const of = (s: QuantizedStream, win: CacheFpSegment[]): CacheSegment[] => [
      ...s.segments(),
      ...win,
    ];
    return { keys: of(this.k, w.k), values: of(this.v, w.v) };
  }

  addBytes(parts: ByteParts): void {
    parts.window += 2 * this.window.heldBytesPerStream();
    parts.pageSlack += 2 * this.window.slackBytesPerStream();
    for (const name of STREAMS) this.stream(name).addBytes(parts, this.policy.sinks);
  }

  clear(): void {
    this.policy.reset();
    this.window.clear();
    for (const name of STREAMS) this.stream(name).clear();
    this.length = 0;
    this.lastChunk?.release();
    this.lastChunk = null;
  }

  counts(): LayerCounts {
    return {
      length: this.length,
      window: this.policy.window,
      sinks: this.policy.sinks,
      windowCount: this.window.count,
      k: this.k.counts,
      v: this.v.counts,
    };
  }

  /** Saved sections of the layer: window, K stream, V stream. */
  sections(): SectionPart[][] {
    return [this.window.sections(), this.k.sections(), this.v.sections()];
  }

  /**
   * A layer rebuilt from its three saved sections. The policy is reset and replayed with
   * admit(0, length) (its decision is not needed: the file holds where every token is).
   */
  static restore(
    config: LayerConfig,
    counts: LayerCounts,
    sections: readonly Uint8Array[],
    name: string,
  ): CacheLayer {
    const length = counts.length;
    for (const s of STREAMS) {
      const c = counts[s];
      if (c.kept + c.pending + c.quantized + counts.windowCount !== length) {
        throw badSection(
          `${name} ${s} stream holds ${c.kept} kept + ${c.pending} pending + ${c.quantized} quantized + ${counts.windowCount} window tokens; the layer has ${length}`,
        );
      }
    }
    const stream = (s: KvStream, i: number) =>
      QuantizedStream.restore(
        config.streams[s],
        counts[s],
        new SectionReader(sections[i]!, `${name} ${s} stream`),
        length,
      );
    const layer = new CacheLayer(config, { k: stream('k', 1), v: stream('v', 2) });
    layer.window.restore(
      new SectionReader(sections[0]!, `${name} window`),
      counts.windowCount,
      length,
    );
    layer.length = length;
    checkCoverage(layer, counts, name);
    layer.policy.reset();
    if (length > 0) {
      const decision = layer.policy.admit(0, length);
      const leaving = (decision?.quantize?.length ?? 0) + (decision?.keep?.length ?? 0);
      if (length - leaving !== counts.windowCount) {
        throw badSection(
          `${name} window holds ${counts.windowCount} tokens; its policy (window ${layer.policy.window}) keeps ${length - leaving} of ${length} there`,
        );
      }
    }
    return layer;
  }
}

/**
 * Throws unless each stream holds every position 0..length-1 exactly once (outside the
 * window, which holds the last windowCount positions) and K and V keep the same tokens at
 * full precision: what append builds, so attention and later appends see a sound layer.
 */
function checkCoverage(layer: CacheLayer, counts: LayerCounts, name: string): void {
  const windowStart = counts.length - counts.windowCount;
  const kept: Record<KvStream, number[]> = { k: [], v: [] };
  for (const s of STREAMS) {
    const seen = new Uint8Array(windowStart);
    const stream = layer.stream(s);
    for (const segment of stream.segments()) {
      for (const p of segment.positions) {
        if (p >= windowStart || seen[p] === 1) {
          throw badSection(
            `${name} ${s} stream holds position ${p} twice or inside the window (from ${windowStart})`,
          );
        }
        seen[p] = 1;
      }
    }
    for (const segment of stream.kept.cacheSegments()) kept[s].push(...segment.positions);
  }
  if (kept.k.length !== kept.v.length || kept.k.some((p, i) => p !== kept.v[i])) {
    throw badSection(`${name} K and V streams keep different tokens at full precision`);
  }
}
