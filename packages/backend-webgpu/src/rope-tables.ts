import { type RopeConfig, ropeInverseFrequencies } from '@skvq/core';
import { ROPE_TILE } from './constants.js';

/**
 * cos/sin tables for positions split as hi * ROPE_TILE + lo, [n][headDim/2] each, computed
 * in float64 (like the reference's applyRope) and rounded once to float32. The kernel
 * recombines them with the angle-addition formula, so the angle is never formed in float32
 * (which would lose ~1e-2 rad at 128k tokens).
 */
export interface RopeTables {
  hiCos: Float32Array;
  hiSin: Float32Array;
  loCos: Float32Array;
  loSin: Float32Array;
}

const cache = new Map<string, RopeTables>();

export function ropeTables(headDim: number, rope: RopeConfig, length: number): RopeTables {
  const his = Math.max(1, Math.ceil(length / ROPE_TILE));
  const key = `${headDim}:${rope.theta}`;
  const cached = cache.get(key);
  if (cached !== undefined && cached.hiCos.length >= his * (headDim / 2)) return cached;
  const half = headDim / 2;
  const inv = ropeInverseFrequencies(headDim, rope.theta);
  // Grow in powers of two so a decode loop does not rebuild the table every step.
  const hiCount = 2 ** Math.ceil(Math.log2(his));
  const t: RopeTables = {
    hiCos: new Float32Array(hiCount * half),
    hiSin: new Float32Array(hiCount * half),
    loCos: new Float32Array(ROPE_TILE * half),
    loSin: new Float32Array(ROPE_TILE * half),
  };
  for (let h = 0; h < hiCount; h++) {
    for (let i = 0; i < half; i++) {
      const angle = h * ROPE_TILE * (inv[i] as number);
      t.hiCos[h * half + i] = Math.cos(angle);
      t.hiSin[h * half + i] = Math.sin(angle);
    }
  }
  for (let l = 0; l < ROPE_TILE; l++) {
    for (let i = 0; i < half; i++) {
      const angle = l * (inv[i] as number);
      t.loCos[l * half + i] = Math.cos(angle);
      t.loSin[l * half + i] = Math.sin(angle);
    }
  }
  cache.set(key, t);
  return t;
}
