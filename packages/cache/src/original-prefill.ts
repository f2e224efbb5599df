import type { FpSegment, KvSegment, KvStream } from '@skvq/core';
import type { QuantizedBlock, QuantizedStream } from './stream.js';
import type { WindowBuffer } from './window.js';

/**
 * 'original' prefill attention: attendPrefill over the last appended chunk sees the cache as
 * it was before the chunk plus the chunk itself at full precision; later reads see the chunk
 * quantized as usual. This file holds that bookkeeping so the cache only records chunks.
 */
export class OriginalChunk {
  /** Per stream: rows before `start` quantized in a block that also holds chunk rows. */
  private readonly straddle: Record<KvStream, FpSegment | null> = { k: null, v: null };

  constructor(
    readonly start: number,
    readonly count: number,
    private readonly k: Float32Array,
    private readonly v: Float32Array,
    private readonly channels: number,
  ) {}

  /** A copy of the chunk's rows (keys as stored: after RoPE when keys are post-RoPE). */
  static record(start: number, count: number, k: Float32Array, v: Float32Array, channels: number) {
    return new OriginalChunk(start, count, k.slice(), v.slice(), channels);
  }

  covers(start: number, count: number): boolean {
    return start >= this.start && start + count <= this.start + this.count;
  }

  /** Block observer for `stream.quantize`: remembers the rows of a block that straddles the chunk. */
  blockObserver(name: KvStream): (block: QuantizedBlock) => void {
    return ({ x, positions }) => {
      let before = 0;
      while (before < positions.length && positions[before]! < this.start) before++;
      if (before > 0 && before < positions.length) {
        this.straddle[name] = {
          kind: 'fp',
          count: before,
          precision: 'fp32',
          data: x.slice(0, before * this.channels),
          positions: positions.slice(0, before),
        };
      }
    };
  }

  /** Keys and values segments: the state before the chunk, plus the chunk at full precision. */
  segments(
    window: WindowBuffer,
    streams: Record<KvStream, QuantizedStream>,
  ): { keys: KvSegment[]; values: KvSegment[] } {
    const w = window.segments(this.start);
    const of = (name: KvStream, win: FpSegment[]): KvSegment[] => {
      const parts = streams[name].partsBelow(this.start);
      const out: KvSegment[] = [...parts.kept, ...parts.packed];
      if (parts.cut > 0) out.push(this.straddle[name]!);
      out.push(...parts.pending, ...win, {
        kind: 'fp',
        count: this.count,
        precision: 'fp32',
        data: name === 'k' ? this.k : this.v,
        positions: Int32Array.from({ length: this.count }, (_, i) => this.start + i),
      });
      return out;
    };
    return { keys: of('k', w.k), values: of('v', w.v) };
  }
}
