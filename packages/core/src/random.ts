/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit-state PRNG built only from 32-bit
 * integer operations (Math.imul, shifts), so the same seed yields the same stream on every
 * machine and JS engine. Plenty for k-means++ seeding; not for cryptography.
 * Returns a function giving uniform floats in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
