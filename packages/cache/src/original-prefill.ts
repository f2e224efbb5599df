import type { KvStream, StoreBuffer } from '@skvq/core';
import type { CacheFpSegment } from './fp-rows.js';
import type { CacheSegment } from './kernels.js';
import { type CacheStore, encodeRows, viewOf } from './store.js';
import type { QuantizedBlock, QuantizedStream } from './stream.js';
import type { WindowBuffer } from './window.js';

/**
 * 'original' prefill attention: attendPrefill over the last appended chunk sees the cache as
 * it was before the chunk plus the chunk itself at full precision; later reads see the chunk
 * quantized as usual. This file holds that bookkeeping so the cache only records chunks.
 * On a device the chunk is uploaded once as fp32 rows (it is the prefill's input, O(chunk))
 * and the rows of a straddling block are copied inside the store; both are freed when the
 * next chunk replaces this one or the cache is cleared.
 */
export class OriginalChunk {
  /** Per stream: rows before `start` quantized in a block that also holds chunk rows. */
  private readonly straddle: Record<KvStream, CacheFpSegment | null> = { k: null, v: null };
  /** Store buffers this chunk owns (device only). */
  private readonly owned: StoreBuffer[] = [];
  private readonly rows: Record<KvStream, CacheFpSegment>;

  private constructor(
    readonly start: number,
    readonly count: number,
    k: Float32Array,
    v: Float32Array,
    private readonly channels: number,
    private readonly store: CacheStore,
  ) {
    const positions = Int32Array.from({ length: count }, (_, i) => start + i);
    const segment = (x: Float32Array): CacheFpSegment => {
      const base = { kind: 'fp', count, precision: 'fp32', positions } as const;
      if (!store.device) return { ...base, data: x.slice() };
      const bytes = encodeRows('fp32', x, 0, count, channels);
      const buffer = this.own(bytes.byteLength);
      store.write(buffer, 0, bytes);
      return { ...base, data: viewOf(buffer, 0, buffer.byteLength) };
    };
    this.rows = { k: segment(k), v: segment(v) };
  }

  /** The chunk's rows (keys as stored: after RoPE when keys are post-RoPE). */
  static record(
    start: number,
    count: number,
    k: Float32Array,
    v: Float32Array,
    channels: number,
    store: CacheStore,
  ) {
    return new OriginalChunk(start, count, k, v, channels, store);
  }

  private own(byteLength: number): StoreBuffer {
    const buffer = this.store.allocate(byteLength, 'fp');
    this.owned.push(buffer);
    return buffer;
  }

  /** Frees the store buffers of the chunk (device). */
  release(): void {
    for (const buffer of this.owned) this.store.release(buffer);
    this.owned.length = 0;
  }

  covers(start: number, count: number): boolean {
    return start >= this.start && start + count <= this.start + this.count;
  }

  /** Block observer for `stream.quantize`: remembers the rows of a block that straddles the chunk. */
  blockObserver(name: KvStream): (block: QuantizedBlock) => void {
    return ({ x, positions }) => {
      let before = 0;
      while (before < positions.length && positions[before]! < this.start) before++;
      if (before === 0 || before === positions.length) return;
      const head = positions.slice(0, before);
      if (x instanceof Float32Array) {
        const data = x.slice(0, before * this.channels);
        this.straddle[name] = {
          kind: 'fp',
          count: before,
          precision: 'fp32',
          data,
          positions: head,
        };
        return;
      }
      // device: the block's rows are still in the pending buffer (queued before any write)
      const bytes = (x.view.byteLength / positions.length) * before;
      const buffer = this.own(bytes);
      this.store.copy(viewOf(x.view.buffer, x.view.byteOffset, bytes), buffer, 0);
      this.straddle[name] = {
        kind: 'fp',
        count: before,
        precision: x.precision,
        data: viewOf(buffer, 0, buffer.byteLength),
        positions: head,
      };
    };
  }

  /** Keys and values segments: the state before the chunk, plus the chunk at full precision. */
  segments(
    window: WindowBuffer,
    streams: Record<KvStream, QuantizedStream>,
  ): { keys: CacheSegment[]; values: CacheSegment[] } {
    const w = window.segments(this.start);
    const of = (name: KvStream, win: CacheFpSegment[]): CacheSegment[] => {
      const parts = streams[name].partsBelow(this.start);
      const out: CacheSegment[] = [...parts.kept, ...parts.packed];
      if (parts.cut > 0) out.push(this.straddle[name]!);
      out.push(...parts.pending, ...win, this.rows[name]);
      return out;
    };
    return { keys: of('k', w.k), values: of('v', w.v) };
  }
}
