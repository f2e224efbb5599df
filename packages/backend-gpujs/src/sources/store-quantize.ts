import { f32AtJs, u16AtJs } from './store-bytes.js';

/**
 * Rows in a store as float32 values for the quantize kernels: value i is element i of
 * [rows, channels] at byte `off` of `src` (kind 0: fp32, 1: fp16 by the decode table);
 * past `n` values it is 0 (padding rows).
 */
export const STORE_ROWS_SOURCE = `function (src, dec, off, n, kind) {
  const i = this.thread.x;
  if (i >= n) {
    return 0;
  }
  let v = 0;
  if (kind < 0.5) {
    ${f32AtJs('src', 'off + 4 * i', 'f')}
    v = f;
  } else {
    ${u16AtJs('src', 'off + 2 * i', 'h')}
    v = dec[h];
  }
  return v;
}`;

/** 1 for a row of the codes kernel's output with a flagged byte (>= 256), else 0. */
export function rowFlagsSource(rowBytes: number): string {
  return `function (codes) {
    const t = this.thread.x;
    let f = 0;
    for (let b = 0; b < ${rowBytes}; b++) {
      if (codes[t][b] > 255.5) {
        f = 1;
      }
    }
    return f;
  }`;
}

/**
 * Merges the codes kernel's output ([rows, rowBytes] bytes, +256 on flagged bytes) into a
 * codes buffer at bytes [b0, b1): byte k is codes byte j = k - b0, row floor(j / rowBytes)
 * (the float quotient corrected by one either way, so every index is exact).
 */
export const PACK_CODES_SOURCE = `function (old, codes, b0, b1, rowBytes) {
  const i = this.thread.x;
  const ow = old[i];
  if (2 * i + 1 < b0 || 2 * i >= b1) {
    return ow;
  }
  const oh = Math.floor((ow + 0.5) / 256);
  let lo = ow - 256 * oh;
  let hi = oh;
  for (let half = 0; half < 2; half++) {
    const k = 2 * i + half;
    if (k >= b0 && k < b1) {
      const j = k - b0;
      let t = Math.floor((j + 0.5) / rowBytes);
      let b = j - t * rowBytes;
      if (b < 0) {
        t = t - 1;
        b = b + rowBytes;
      }
      if (b >= rowBytes) {
        t = t + 1;
        b = b - rowBytes;
      }
      const v = codes[t][b];
      const byte = v - 256 * Math.floor((v + 0.5) / 256);
      if (half == 0) {
        lo = byte;
      } else {
        hi = byte;
      }
    }
  }
  return lo + 256 * hi;
}`;
