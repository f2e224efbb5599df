import {
  type AttentionAttrs,
  contiguousGroupOffsets,
  type KvGeometry,
  type KvSegment,
  metaBytesPerUnit,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { encodeFp16, quantizeTokensReference } from '@skvq/formats';
import { bench, describe } from 'vitest';
import { attendDecodeFast } from '../src/fast-attention.js';
import { attendDecodeReference } from '../src/reference-attention.js';

// One decode step of a Llama-3-8B-like layer (32 query heads, 8 KV heads, head dim 128)
// over 4096 cached tokens: 5 fp32 sinks, SKVQ pages (K 2 bits, V 1.5 bits, fp8 meta, groups
// of 128 over a permuted order) and a 128-token fp16 window, keys pre-RoPE.
const geometry: KvGeometry = {
  layers: 1,
  queryHeads: 32,
  kvHeads: 8,
  headDim: 128,
  rope: { style: 'half', theta: 500000 },
};
const CHANNELS = 8 * 128;
const LENGTH = 4096;
const SINKS = 5;
const WINDOW = 128;
const PACKED = LENGTH - SINKS - WINDOW;

function layout(bits: 2 | 1.5): TokenGroupLayout {
  return {
    kind: 'token-group',
    channels: CHANNELS,
    bits,
    meta: 'fp8e4m3',
    perm: Uint32Array.from({ length: CHANNELS }, (_, i) => (i * 37) % CHANNELS),
    groupOffsets: contiguousGroupOffsets(CHANNELS, 128),
    alpha: 0.92,
  };
}

function stream(bits: 2 | 1.5, seed: number): KvSegment[] {
  const x = Float32Array.from(
    { length: LENGTH * CHANNELS },
    (_, i) => Math.sin(i * 0.37 + seed) * 2,
  );
  const at = (from: number, n: number) => Int32Array.from({ length: n }, (_, i) => from + i);
  const l = layout(bits);
  const codes = new Uint8Array(PACKED * rowCodeBytes(l));
  const meta = new Uint8Array(PACKED * metaBytesPerUnit(l));
  const packedRows = x.subarray(SINKS * CHANNELS, (SINKS + PACKED) * CHANNELS);
  quantizeTokensReference(l, packedRows, PACKED, codes, 0, meta, 0);
  const window = x.subarray((SINKS + PACKED) * CHANNELS);
  return [
    {
      kind: 'fp',
      precision: 'fp32',
      count: SINKS,
      data: x.slice(0, SINKS * CHANNELS),
      positions: at(0, SINKS),
    },
    { kind: 'packed', count: PACKED, layout: l, codes, meta, positions: at(SINKS, PACKED) },
    {
      kind: 'fp',
      precision: 'fp16',
      count: WINDOW,
      data: Uint16Array.from(window, (v) => encodeFp16(v)),
      positions: at(SINKS + PACKED, WINDOW),
    },
  ];
}

const keys = stream(2, 1);
const values = stream(1.5, 2);
const dense: KvSegment[] = [
  {
    kind: 'fp',
    precision: 'fp32',
    count: LENGTH,
    data: Float32Array.from({ length: LENGTH * CHANNELS }, (_, i) => Math.sin(i * 0.37) * 2),
    positions: Int32Array.from({ length: LENGTH }, (_, i) => i),
  },
];
const q = Float32Array.from({ length: 32 * 128 }, (_, i) => Math.cos(i));
const attrs: AttentionAttrs = { geometry, keysPreRope: true };
const inputs = { q, position: LENGTH - 1, keys, values, length: LENGTH };

describe('attendDecode, 4096 tokens, 32q/8kv x 128, K2 V1.5 fp8 meta', () => {
  bench('fast (cpu), packed pages', () => {
    attendDecodeFast(inputs, attrs);
  });
  bench('fast (cpu), all fp32 (no quantization)', () => {
    attendDecodeFast({ ...inputs, keys: dense, values: dense }, attrs);
  });
  bench(
    'reference (cpu-reference), packed pages',
    () => {
      attendDecodeReference(inputs, attrs);
    },
    { iterations: 3, time: 0 },
  );
});
