import {
  assertFinite,
  type KvGeometry,
  type KvStream,
  kvHidden,
  SkvqError,
  validateGeometry,
} from '@skvq/core';
import { assertInt } from './validate.js';

/** Per-channel statistics of one stream of one layer over every token observed. */
export interface ChannelStatistics {
  readonly channels: number;
  /** Tokens observed. */
  readonly count: number;
  readonly min: Float32Array;
  readonly max: Float32Array;
  /** max(|min|, |max|). */
  readonly absmax: Float32Array;
}

/**
 * Streaming per-channel min / max / absmax of keys (pre-RoPE, the k_proj output) and values
 * for every layer (SKVQ.md section 1). Feed [count, kvHidden] batches any number of times;
 * NaN / Inf is rejected (NON_FINITE_INPUT) before anything is updated.
 */
export class ChannelStats {
  readonly geometry: KvGeometry;
  readonly channels: number;
  private readonly min: Float32Array[][];
  private readonly max: Float32Array[][];
  private readonly counts: number[][];

  constructor(geometry: KvGeometry) {
    this.geometry = validateGeometry(geometry, 'ChannelStats geometry');
    this.channels = kvHidden(geometry);
    const make = (fill: number) =>
      Array.from({ length: geometry.layers }, () => [
        new Float32Array(this.channels).fill(fill),
        new Float32Array(this.channels).fill(fill),
      ]);
    this.min = make(Number.POSITIVE_INFINITY);
    this.max = make(Number.NEGATIVE_INFINITY);
    this.counts = Array.from({ length: geometry.layers }, () => [0, 0]);
  }

  /** Adds `count` tokens `data` = [count, kvHidden] of `stream` of `layer`. */
  observe(layer: number, stream: KvStream, data: Float32Array, count: number): void {
    const where = `ChannelStats.observe(layer ${layer}, ${stream})`;
    this.checkLayer(layer, where);
    assertInt(count, 0, 'count', where);
    const s = streamIndex(stream, where);
    const c = this.channels;
    if (data.length !== count * c) {
      throw new SkvqError(
        'SHAPE_MISMATCH',
        `${where}: data has length ${data.length}; expected count * kvHidden = ${count} * ${c}`,
        { details: { length: data.length, count, channels: c } },
      );
    }
    assertFinite(data, `${where} data`);
    const min = this.min[layer]![s]!;
    const max = this.max[layer]![s]!;
    for (let t = 0; t < count; t++) {
      const row = t * c;
      for (let ch = 0; ch < c; ch++) {
        const x = data[row + ch]!;
        if (x < min[ch]!) min[ch] = x;
        if (x > max[ch]!) max[ch] = x;
      }
    }
    this.counts[layer]![s]! += count;
  }

  /** Statistics so far (copies). Throws INVALID_ARGUMENT if nothing was observed. */
  get(layer: number, stream: KvStream): ChannelStatistics {
    const where = `ChannelStats.get(layer ${layer}, ${stream})`;
    this.checkLayer(layer, where);
    const s = streamIndex(stream, where);
    const count = this.counts[layer]![s]!;
    if (count === 0) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: no tokens were observed for this layer and stream; calibration needs at least one`,
        { details: { layer, stream } },
      );
    }
    const min = this.min[layer]![s]!.slice();
    const max = this.max[layer]![s]!.slice();
    const absmax = new Float32Array(this.channels);
    for (let ch = 0; ch < this.channels; ch++) {
      absmax[ch] = Math.max(Math.abs(min[ch]!), Math.abs(max[ch]!));
    }
    return { channels: this.channels, count, min, max, absmax };
  }

  /** Tokens observed for `layer` (keys and values are always fed together by sessions). */
  count(layer: number, stream: KvStream): number {
    this.checkLayer(layer, 'ChannelStats.count');
    return this.counts[layer]![streamIndex(stream, 'ChannelStats.count')]!;
  }

  private checkLayer(layer: number, where: string): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.geometry.layers) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: layer ${String(layer)} is out of range; expected 0..${this.geometry.layers - 1}`,
        { details: { layer, layers: this.geometry.layers } },
      );
    }
  }
}

function streamIndex(stream: KvStream, where: string): 0 | 1 {
  if (stream === 'k') return 0;
  if (stream === 'v') return 1;
  throw new SkvqError('INVALID_ARGUMENT', `${where}: stream ${String(stream)}; expected k, v`, {
    details: { stream },
  });
}

/** A statistics accumulator for every layer of `geometry`. */
export function createChannelStats(geometry: KvGeometry): ChannelStats {
  return new ChannelStats(geometry);
}
