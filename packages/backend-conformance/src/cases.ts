import {
  type BitWidth,
  type KvGeometry,
  type KvSegment,
  kvHidden,
  type MetaFormat,
  mulberry32,
  queryHidden,
  type RopeStyle,
} from '@skvq/core';
import {
  channelBlockLayout,
  randomTokenGroupLayout,
  randomTokens,
  testGeometry,
} from './generators.js';
import { type Rng, randomNormal, randomPermutation } from './rng.js';
import { buildSegments, type SegmentPiece } from './segments.js';

/** A piece described by name, turned into a SegmentPiece once the channel count is known. */
export type PieceSpec =
  | { kind: 'fp32' | 'fp16'; count: number }
  | {
      kind: 'token-group';
      count: number;
      bits: BitWidth;
      meta: MetaFormat;
      perm?: boolean;
      groupSize?: number;
    }
  | { kind: 'channel-block'; count: number; bits: BitWidth; meta: MetaFormat; blockTokens: number };

export interface AttentionCaseSpec {
  name: string;
  queryHeads: number;
  kvHeads: number;
  headDim: number;
  rope: RopeStyle;
  keysPreRope: boolean;
  keys: readonly PieceSpec[];
  values: readonly PieceSpec[];
  /** Positions scattered over the pieces at random (kept heavy hitters, odd caches). */
  scatter?: boolean;
  /** Prefill query rows; decode when absent (the query at position length - 1). */
  prefill?: { start: number; count: number };
  scale?: number;
  seed: number;
}

/** A concrete attention problem: inputs for attendDecode / attendPrefill and their attrs. */
export interface AttentionCase {
  spec: AttentionCaseSpec;
  geometry: KvGeometry;
  length: number;
  q: Float32Array;
  keys: KvSegment[];
  values: KvSegment[];
}

function toPiece(rng: Rng, spec: PieceSpec, channels: number): SegmentPiece {
  switch (spec.kind) {
    case 'fp32':
    case 'fp16':
      return { kind: spec.kind, count: spec.count };
    case 'token-group':
      return {
        kind: 'packed',
        count: spec.count,
        layout: randomTokenGroupLayout(rng, {
          channels,
          bits: spec.bits,
          meta: spec.meta,
          perm: spec.perm,
          groupSize: spec.groupSize,
        }),
      };
    case 'channel-block':
      return {
        kind: 'packed',
        count: spec.count,
        layout: channelBlockLayout(channels, spec.bits, spec.meta, spec.blockTokens),
      };
  }
}

/** Builds the random data, layouts and segment lists of one case (deterministic per seed). */
export function buildAttentionCase(spec: AttentionCaseSpec): AttentionCase {
  const rng = mulberry32(spec.seed);
  const geometry = testGeometry(spec.queryHeads, spec.kvHeads, spec.headDim, spec.rope);
  const channels = kvHidden(geometry);
  const length = spec.keys.reduce((n, p) => n + p.count, 0);
  const k = randomTokens(rng, length, channels);
  const v = randomTokens(rng, length, channels);
  const rows = spec.prefill?.count ?? 1;
  const q = new Float32Array(rows * queryHidden(geometry));
  for (let i = 0; i < q.length; i++) q[i] = randomNormal(rng);
  const order = spec.scatter ? Int32Array.from(randomPermutation(rng, length)) : undefined;
  const keys = buildSegments(
    k,
    channels,
    spec.keys.map((p) => toPiece(rng, p, channels)),
    order,
  );
  const values = buildSegments(
    v,
    channels,
    spec.values.map((p) => toPiece(rng, p, channels)),
    order,
  );
  return { spec, geometry, length, q, keys, values };
}

const tg = (count: number, bits: BitWidth, meta: MetaFormat, groupSize = 8): PieceSpec => ({
  kind: 'token-group',
  count,
  bits,
  meta,
  groupSize,
});
const cb = (count: number, bits: BitWidth, meta: MetaFormat, blockTokens: number): PieceSpec => ({
  kind: 'channel-block',
  count,
  bits,
  meta,
  blockTokens,
});
const fp32 = (count: number): PieceSpec => ({ kind: 'fp32', count });
const fp16 = (count: number): PieceSpec => ({ kind: 'fp16', count });

/**
 * The attention cases of the suite: MHA and GQA, head dims 8 / 64 / 128, RoPE pairwise,
 * half and none, keys pre- and post-RoPE, fp32 sinks + several packed pages (token-group
 * and channel-block) + fp16 / fp32 windows, windows and sinks of 0, 1 and everything,
 * keys and values split differently, and one cache of about 1000 tokens.
 */
export function attentionCaseSpecs(): AttentionCaseSpec[] {
  const specs: AttentionCaseSpec[] = [
    {
      name: 'MHA d8 pairwise pre-RoPE: fp32 sinks, two token-group pages, fp16 window',
      queryHeads: 2,
      kvHeads: 2,
      headDim: 8,
      rope: 'pairwise',
      keysPreRope: true,
      keys: [fp32(3), tg(8, 2, 'fp16'), tg(5, 4, 'fp8e4m3'), fp16(4)],
      values: [fp32(3), tg(8, 2, 'fp16'), tg(5, 4, 'fp8e4m3'), fp16(4)],
      seed: 1,
    },
    {
      name: 'GQA 4q/2kv d64 half pre-RoPE: keys and values split differently, 3 and 1.5 bits',
      queryHeads: 4,
      kvHeads: 2,
      headDim: 64,
      rope: 'half',
      keysPreRope: true,
      keys: [fp32(5), tg(16, 3, 'fp32', 16), tg(14, 1.5, 'fp16', 32), fp32(5)],
      values: [fp32(5), tg(30, 2, 'fp8e4m3', 16), fp16(5)],
      seed: 2,
    },
    {
      name: 'GQA 8q/2kv d128 pairwise post-RoPE (KIVI): channel-block key pages, token-group values',
      queryHeads: 8,
      kvHeads: 2,
      headDim: 128,
      rope: 'pairwise',
      keysPreRope: false,
      keys: [cb(16, 2, 'fp16', 8), cb(16, 4, 'fp32', 8), fp32(6)],
      values: [tg(32, 2, 'fp16', 32), fp16(6)],
      seed: 3,
    },
    {
      name: 'MHA d64 pairwise pre-RoPE: window 0 and sinks 0 (everything packed, 8 bits)',
      queryHeads: 2,
      kvHeads: 2,
      headDim: 64,
      rope: 'pairwise',
      keysPreRope: true,
      keys: [tg(6, 8, 'fp32'), tg(6, 2, 'fp16')],
      values: [tg(12, 4, 'fp16')],
      seed: 4,
    },
    {
      name: 'GQA 4q/1kv d8 half pre-RoPE: one sink, one window token',
      queryHeads: 4,
      kvHeads: 1,
      headDim: 8,
      rope: 'half',
      keysPreRope: true,
      keys: [fp32(1), tg(10, 1.5, 'fp8e4m3', 4), fp16(1)],
      values: [fp32(1), tg(10, 3, 'fp16', 4), fp32(1)],
      seed: 5,
    },
    {
      name: 'MHA d8 pairwise pre-RoPE: full window (nothing quantized), fp32 and fp16',
      queryHeads: 2,
      kvHeads: 2,
      headDim: 8,
      rope: 'pairwise',
      keysPreRope: true,
      keys: [fp32(4), fp16(6)],
      values: [fp16(10)],
      seed: 6,
    },
    {
      name: 'MHA d8 pairwise pre-RoPE: a single cached token',
      queryHeads: 1,
      kvHeads: 1,
      headDim: 8,
      rope: 'pairwise',
      keysPreRope: true,
      keys: [fp32(1)],
      values: [fp32(1)],
      seed: 7,
    },
    {
      name: 'GQA 4q/2kv d8 pairwise pre-RoPE: positions scattered over segments (kept heavy hitters)',
      queryHeads: 4,
      kvHeads: 2,
      headDim: 8,
      rope: 'pairwise',
      keysPreRope: true,
      keys: [fp32(3), tg(9, 2, 'fp16'), fp16(2), tg(6, 4, 'fp32')],
      values: [tg(12, 2, 'fp8e4m3'), fp32(8)],
      scatter: true,
      seed: 8,
    },
    {
      name: 'MHA d64 rope none, custom softmax scale, empty segments in the lists',
      queryHeads: 2,
      kvHeads: 2,
      headDim: 64,
      rope: 'none',
      keysPreRope: true,
      keys: [fp32(0), tg(12, 3, 'fp16'), fp32(2)],
      values: [tg(14, 2, 'fp16'), fp16(0)],
      scale: 0.05,
      seed: 9,
    },
    {
      name: 'GQA 4q/2kv d64 pairwise pre-RoPE: ~1000 tokens over 4 pages',
      queryHeads: 4,
      kvHeads: 2,
      headDim: 64,
      rope: 'pairwise',
      keysPreRope: true,
      keys: [
        fp32(5),
        tg(240, 2, 'fp8e4m3', 32),
        tg(240, 2, 'fp8e4m3', 32),
        tg(240, 2, 'fp8e4m3', 32),
        tg(240, 2, 'fp8e4m3', 32),
        fp16(35),
      ],
      values: [fp32(5), tg(480, 1.5, 'fp8e4m3', 32), tg(480, 1.5, 'fp8e4m3', 32), fp16(35)],
      seed: 10,
    },
  ];
  return specs;
}

/** Prefill variants: whole prompts, a tail of rows over a long cache, GQA and KIVI keys. */
export function prefillCaseSpecs(): AttentionCaseSpec[] {
  const base = attentionCaseSpecs();
  const byIndex = (i: number) => base[i] as AttentionCaseSpec;
  const length = (s: AttentionCaseSpec) => s.keys.reduce((n, p) => n + p.count, 0);
  return [
    {
      ...byIndex(0),
      name: `${byIndex(0).name} (prefill, whole prompt)`,
      prefill: { start: 0, count: length(byIndex(0)) },
    },
    {
      ...byIndex(1),
      name: `${byIndex(1).name} (prefill, last 7 rows)`,
      prefill: { start: length(byIndex(1)) - 7, count: 7 },
    },
    {
      ...byIndex(2),
      name: `${byIndex(2).name} (prefill, middle rows)`,
      prefill: { start: 10, count: 12 },
    },
    { ...byIndex(6), name: `${byIndex(6).name} (prefill)`, prefill: { start: 0, count: 1 } },
    {
      ...byIndex(7),
      name: `${byIndex(7).name} (prefill, whole prompt)`,
      prefill: { start: 0, count: length(byIndex(7)) },
    },
    {
      ...byIndex(9),
      name: `${byIndex(9).name} (prefill, last 32 rows)`,
      prefill: { start: length(byIndex(9)) - 32, count: 32 },
    },
  ];
}
