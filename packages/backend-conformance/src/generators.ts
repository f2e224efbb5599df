import {
  type BitWidth,
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  type KvGeometry,
  type MetaFormat,
  type RopeStyle,
  type TokenGroupLayout,
} from '@skvq/core';
import { encodeFp16 } from '@skvq/formats';
import { type Rng, randomInt, randomNormal, randomPermutation } from './rng.js';

/** Clip ratio used by generated layouts: SKVQ's released perplexity setting (SKVQ.md 2). */
export const DEFAULT_TEST_ALPHA = 0.96;
/** RoPE base of Llama-family models. */
export const DEFAULT_ROPE_THETA = 10000;

export function testGeometry(
  queryHeads: number,
  kvHeads: number,
  headDim: number,
  style: RopeStyle = 'pairwise',
): KvGeometry {
  return { layers: 1, queryHeads, kvHeads, headDim, rope: { style, theta: DEFAULT_ROPE_THETA } };
}

/** `groups` strictly increasing offsets from 0 to channels with random (unequal) sizes. */
export function randomGroupOffsets(rng: Rng, channels: number, groups: number): Uint32Array {
  const cuts = new Set<number>();
  while (cuts.size < groups - 1) cuts.add(1 + randomInt(rng, channels - 1));
  const offsets = new Uint32Array(groups + 1);
  [...cuts]
    .sort((a, b) => a - b)
    .forEach((c, i) => {
      offsets[i + 1] = c;
    });
  offsets[groups] = channels;
  return offsets;
}

export interface TokenGroupLayoutOptions {
  channels: number;
  bits: BitWidth;
  meta: MetaFormat;
  /** Random channel permutation (SKVQ reordering); default true. */
  perm?: boolean;
  /** 'unequal': random group sizes like raw k-means clusters; default 'unequal'. */
  groups?: 'equal' | 'unequal';
  /** Nominal group size; default 8. */
  groupSize?: number;
  alpha?: number;
}

/** A random SKVQ-like token-group layout (permutation and unequal groups by default). */
export function randomTokenGroupLayout(
  rng: Rng,
  options: TokenGroupLayoutOptions,
): TokenGroupLayout {
  const { channels, bits, meta } = options;
  const groupSize = options.groupSize ?? 8;
  const groupCount = Math.max(1, Math.round(channels / groupSize));
  return {
    kind: 'token-group',
    channels,
    bits,
    meta,
    perm: options.perm === false ? null : randomPermutation(rng, channels),
    groupOffsets:
      options.groups === 'equal' || groupCount === 1
        ? contiguousGroupOffsets(channels, groupSize)
        : randomGroupOffsets(rng, channels, groupCount),
    alpha: options.alpha ?? DEFAULT_TEST_ALPHA,
  };
}

export function channelBlockLayout(
  channels: number,
  bits: BitWidth,
  meta: MetaFormat,
  blockTokens: number,
  alpha = 1,
): ChannelBlockLayout {
  return { kind: 'channel-block', channels, bits, meta, blockTokens, alpha };
}

/**
 * [count, channels] activations like real K/V: normal values with a per-channel scale and a
 * few outlier channels (the reason SKVQ reorders). Values stay far below the fp8 E4M3 range.
 */
export function randomTokens(rng: Rng, count: number, channels: number): Float32Array {
  const channelScale = new Float32Array(channels);
  for (let c = 0; c < channels; c++) channelScale[c] = rng() < 0.1 ? 8 : 0.5 + rng();
  const out = new Float32Array(count * channels);
  for (let t = 0; t < count; t++) {
    for (let c = 0; c < channels; c++) {
      out[t * channels + c] = randomNormal(rng) * (channelScale[c] as number);
    }
  }
  return out;
}

/** IEEE binary16 bits of every element (round to nearest even). */
export function toFp16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = encodeFp16(x[i] as number);
  return out;
}

/** Bytes filled with random garbage (pages are reused, so kernels must not rely on zeros). */
export function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = randomInt(rng, 256);
  return out;
}
