import {
  contiguousGroupOffsets,
  type KvSegment,
  metaBytesPerUnit,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { quantizeTokensReference } from '@skvq/formats';

/**
 * K/V streams for the backends' decode benchmarks (one Llama-2-7B layer by default):
 * SKVQ pages (fp8 meta, permuted groups of 128, alpha 0.92) between fp32 attention sinks
 * and an fp32 window, or one dense fp32 segment, filled with deterministic pseudo-random
 * activations page by page, so 128k tokens never need one huge float array.
 */
export const BENCH_SINKS = 5;
export const BENCH_WINDOW = 128;
const PAGE = 1024;

export function benchPositions(from: number, to: number): Int32Array {
  return Int32Array.from({ length: to - from }, (_, i) => from + i);
}

/** Uniform values in [-1, 1) from a linear congruential generator (fast; no quality needed). */
export function benchRows(seed: number, rows: number, channels: number): Float32Array {
  let a = seed >>> 0;
  const x = new Float32Array(rows * channels);
  for (let i = 0; i < x.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    x[i] = a / 2 ** 31 - 1;
  }
  return x;
}

export function benchLayout(channels: number, bits: 2 | 1.5): TokenGroupLayout {
  return {
    kind: 'token-group',
    channels,
    bits,
    meta: 'fp8e4m3',
    perm: Uint32Array.from({ length: channels }, (_, i) => (i * 37) % channels),
    groupOffsets: contiguousGroupOffsets(channels, 128),
    alpha: 0.92,
  };
}

/** fp32 sinks, SKVQ pages of `bits`, fp32 window: `length` positions in order. */
export function benchPackedStream(
  length: number,
  channels: number,
  bits: 2 | 1.5,
  seed: number,
): KvSegment[] {
  const layout = benchLayout(channels, bits);
  const packed = length - BENCH_SINKS - BENCH_WINDOW;
  const codes = new Uint8Array(packed * rowCodeBytes(layout));
  const meta = new Uint8Array(packed * metaBytesPerUnit(layout));
  for (let t = 0; t < packed; t += PAGE) {
    const n = Math.min(PAGE, packed - t);
    const x = benchRows(seed + t, n, channels);
    quantizeTokensReference(
      layout,
      x,
      n,
      codes,
      t * rowCodeBytes(layout),
      meta,
      t * metaBytesPerUnit(layout),
    );
  }
  return [
    {
      kind: 'fp',
      count: BENCH_SINKS,
      precision: 'fp32',
      data: benchRows(seed + 1, BENCH_SINKS, channels),
      positions: benchPositions(0, BENCH_SINKS),
    },
    {
      kind: 'packed',
      count: packed,
      layout,
      codes,
      meta,
      positions: benchPositions(BENCH_SINKS, BENCH_SINKS + packed),
    },
    {
      kind: 'fp',
      count: BENCH_WINDOW,
      precision: 'fp32',
      data: benchRows(seed + 2, BENCH_WINDOW, channels),
      positions: benchPositions(length - BENCH_WINDOW, length),
    },
  ];
}

/** Every position as one fp32 segment (the dense comparison). */
export function benchDenseStream(length: number, channels: number, seed: number): KvSegment[] {
  return [
    {
      kind: 'fp',
      count: length,
      precision: 'fp32',
      data: benchRows(seed, length, channels),
      positions: benchPositions(0, length),
    },
  ];
}
