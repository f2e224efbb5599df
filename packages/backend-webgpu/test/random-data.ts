import { mulberry32 } from '@skvq/core';

/** Deterministic pseudo-random numbers (core's mulberry32) so failures reproduce. */
export const rng = mulberry32;

/** Activations with per-channel spread and a few outlier channels, like real K/V. */
export function activations(random: () => number, tokens: number, channels: number): Float32Array {
  const x = new Float32Array(tokens * channels);
  for (let c = 0; c < channels; c++) {
    const spread = c % 7 === 0 ? 8 : 0.5 + random();
    const offset = (random() - 0.5) * 2;
    for (let t = 0; t < tokens; t++) x[t * channels + c] = offset + (random() * 2 - 1) * spread;
  }
  return x;
}

/** A random permutation of 0..n-1. */
export function permutation(random: () => number, n: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i] as number;
    p[i] = p[j] as number;
    p[j] = t;
  }
  return p;
}
