import {
  type BitWidth,
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  type FpSegment,
  type KvSegment,
  type MetaFormat,
  metaBytesPerUnit,
  type PackedSegment,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { encodeFp16, quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import { activations, permutation } from './random-data.js';

function range(from: number, to: number): Int32Array {
  const p = new Int32Array(to - from);
  for (let i = 0; i < p.length; i++) p[i] = from + i;
  return p;
}

function fp32(x: Float32Array, C: number, from: number, to: number): FpSegment {
  return {
    kind: 'fp',
    count: to - from,
    precision: 'fp32',
    data: x.slice(from * C, to * C),
    positions: range(from, to),
  };
}

function fp16(x: Float32Array, C: number, from: number, to: number): FpSegment {
  const data = new Uint16Array((to - from) * C);
  for (let i = 0; i < data.length; i++) data[i] = encodeFp16(x[from * C + i] as number);
  return { kind: 'fp', count: to - from, precision: 'fp16', data, positions: range(from, to) };
}

export function tokenGroupPage(
  x: Float32Array,
  layout: TokenGroupLayout,
  from: number,
  to: number,
): PackedSegment {
  const C = layout.channels;
  const n = to - from;
  const codes = new Uint8Array(n * rowCodeBytes(layout));
  const meta = new Uint8Array(n * metaBytesPerUnit(layout));
  quantizeTokensReference(layout, x.subarray(from * C, to * C), n, codes, 0, meta, 0);
  return { kind: 'packed', count: n, layout, codes, meta, positions: range(from, to) };
}

function channelBlockPage(
  x: Float32Array,
  layout: ChannelBlockLayout,
  from: number,
  to: number,
): PackedSegment {
  const C = layout.channels;
  const n = to - from;
  const B = layout.blockTokens;
  const codes = new Uint8Array(n * rowCodeBytes(layout));
  const meta = new Uint8Array((n / B) * metaBytesPerUnit(layout));
  for (let b = 0; b < n / B; b++) {
    quantizeBlockReference(
      layout,
      x,
      (from + b * B) * C,
      codes,
      b * B * rowCodeBytes(layout),
      meta,
      b * metaBytesPerUnit(layout),
    );
  }
  return { kind: 'packed', count: n, layout, codes, meta, positions: range(from, to) };
}

export interface CacheFixture {
  keys: KvSegment[];
  values: KvSegment[];
  length: number;
}

/**
 * A cache as the SKVQ cache holds it: fp32 sinks, packed pages, an fp16 window. Keys use
 * `keyKind` (SKVQ token groups or KIVI channel blocks), values token groups; the two
 * streams split differently so a kernel must index each by position.
 */
export function cacheFixture(
  random: () => number,
  C: number,
  length: number,
  opts: {
    keyKind: 'token-group' | 'channel-block';
    kBits: BitWidth;
    vBits: BitWidth;
    meta: MetaFormat;
  },
): CacheFixture {
  const k = activations(random, length, C);
  const v = activations(random, length, C);
  const sinks = 3;
  const window = 5;
  const packedEnd = length - window;
  const vLayout: TokenGroupLayout = {
    kind: 'token-group',
    channels: C,
    bits: opts.vBits,
    meta: opts.meta,
    perm: permutation(random, C),
    groupOffsets: contiguousGroupOffsets(C, 8),
    alpha: 0.95,
  };
  let keys: KvSegment[];
  if (opts.keyKind === 'token-group') {
    const kLayout: TokenGroupLayout = {
      ...vLayout,
      bits: opts.kBits,
      perm: permutation(random, C),
      groupOffsets: new Uint32Array([0, 3, 10, 24, C]),
      alpha: 0.9,
    };
    const mid = sinks + Math.floor((packedEnd - sinks) / 2);
    keys = [
      fp32(k, C, 0, sinks),
      tokenGroupPage(k, kLayout, sinks, mid),
      tokenGroupPage(k, kLayout, mid, packedEnd),
      fp16(k, C, packedEnd, length),
    ];
  } else {
    const B = 4;
    const kLayout: ChannelBlockLayout = {
      kind: 'channel-block',
      channels: C,
      bits: opts.kBits,
      meta: opts.meta,
      blockTokens: B,
      alpha: 1,
    };
    const blocksEnd = Math.floor(length / B) * B - B;
    keys = [channelBlockPage(k, kLayout, 0, blocksEnd), fp32(k, C, blocksEnd, length)];
  }
  const values: KvSegment[] = [
    fp16(v, C, packedEnd, length),
    tokenGroupPage(v, vLayout, sinks + 2, packedEnd),
    fp32(v, C, 0, sinks + 2),
  ];
  return { keys, values, length };
}
