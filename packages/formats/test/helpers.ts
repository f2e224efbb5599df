import {
  type BitWidth,
  contiguousGroupOffsets,
  type MetaFormat,
  metaBytesPerUnit,
  mulberry32,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';

export function tokenLayout(
  channels: number,
  groupSize: number,
  bits: BitWidth,
  meta: MetaFormat,
  alpha = 1,
  perm: Uint32Array | null = null,
): TokenGroupLayout {
  return {
    kind: 'token-group',
    channels,
    bits,
    meta,
    perm,
    groupOffsets: contiguousGroupOffsets(channels, groupSize),
    alpha,
  };
}

/** Deterministic pseudo-random numbers (mulberry32 from @skvq/core). */
export const rng: (seed: number) => () => number = mulberry32;

export function randomTokens(count: number, channels: number, seed: number, spread = 4) {
  const r = rng(seed);
  const x = new Float32Array(count * channels);
  for (let i = 0; i < x.length; i++) x[i] = (r() * 2 - 1) * spread;
  return x;
}

export function randomPerm(channels: number, seed: number): Uint32Array {
  const r = rng(seed);
  const p = Uint32Array.from({ length: channels }, (_, i) => i);
  for (let i = channels - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Page buffers for `count` tokens of a layout. */
export function pageFor(layout: TokenGroupLayout, count: number) {
  return {
    codes: new Uint8Array(count * rowCodeBytes(layout)),
    meta: new Uint8Array(count * metaBytesPerUnit(layout)),
  };
}
