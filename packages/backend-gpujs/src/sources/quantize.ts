import type { BitWidth } from '@skvq/core';

/**
 * Min/max kernel: thread (2u + w, t) is the minimum (w = 0) or maximum (w = 1) of unit u of
 * row t, whose elements are x[t * rowStride + idx[starts[u] + k]] (a token's group in
 * permuted order, or a channel down a block). Comparisons are exact on every device.
 */
export function minMaxSource(rowStride: number, maxLength: number): string {
  return `function (x, idx, starts) {
    const u = Math.floor((this.thread.x + 0.5) / 2);
    const w = this.thread.x - 2 * u;
    const base = this.thread.y * ${rowStride};
    const s0 = starts[u];
    const n = starts[u + 1] - s0;
    let lo = 3.0e38;
    let hi = -3.0e38;
    for (let k = 0; k < ${maxLength}; k++) {
      if (k < n) {
        const v = x[base + idx[s0 + k]];
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (w == 0) {
      return lo;
    }
    return hi;
  }`;
}

export interface CodesShape {
  bits: BitWidth;
  channels: number;
  maxq: number;
  /** Floats between consecutive rows of x (channels). */
  rowStride: number;
  /** Floats between consecutive rows' scale/zero pairs (0 when every row shares them). */
  paramStride: number;
  /** Relative distance to a rounding boundary below which a value is flagged. */
  margin: number;
}

/**
 * Codes kernel: thread (b, t) computes packed byte b of row t, plus 256 when one of its
 * values lies so close to a rounding boundary that the device's division (2.5 ulp in
 * WebGL) might have rounded it to the other side: the host recomputes those rows exactly.
 * Element j (storage order) is x[t * rowStride + elem[2j]] with the scale/zero pair
 * elem[2j + 1]; code = floor(clamp(f32(f32(x - zero) / scale), 0, maxq) + 0.5) as in the
 * reference. Packing is arithmetic: weights 16^k, 4^k or 3^k; 3-bit codes are a dense bit
 * stream, so each byte collects the up to four codes overlapping its eight bits.
 */
export function codesSource(s: CodesShape): string {
  const dense3 = s.bits === 3;
  const perByte = dense3 ? 4 : { 8: 1, 4: 2, 2: 4, 1.5: 5 }[s.bits as 8 | 4 | 2 | 1.5];
  const weight = s.bits === 1.5 ? 3 : 2 ** s.bits;
  const first = dense3 ? 'Math.floor((8 * b + 0.5) / 3)' : `b * ${perByte}`;
  const inside = dense3 ? `j < ${s.channels} && 3 * j < 8 * b + 8` : `j < ${s.channels}`;
  const pack = dense3
    ? `
        const shift = 3 * j - 8 * b;
        if (shift < -1) {
          byte += Math.floor(code * 0.25);
        } else if (shift < 0) {
          byte += Math.floor(code * 0.5);
        } else {
          let p = 1;
          for (let e = 0; e < 7; e++) {
            if (e < shift) {
              p = p * 2;
            }
          }
          const wide = code * p;
          byte += wide - 256 * Math.floor((wide + 0.5) / 256);
        }`
    : `
        byte += code * w;`;
  return `function (x, elem, params) {
    const b = this.thread.x;
    const t = this.thread.y;
    let byte = 0;
    let flag = 0;
    let w = 1;
    for (let k = 0; k < ${perByte}; k++) {
      const j = ${first} + k;
      if (${inside}) {
        const po = t * ${s.paramStride} + 2 * elem[2 * j + 1];
        const scale = params[po];
        const zero = params[po + 1];
        const v = x[t * ${s.rowStride} + elem[2 * j]];
        const q = Math.fround(Math.fround(v - zero) / scale);
        const cl = Math.min(Math.max(q, 0), ${s.maxq});
        const code = Math.floor(Math.fround(cl + 0.5));
        const near = Math.abs(cl - Math.floor(cl) - 0.5);
        if (q > 0.25 && q < ${s.maxq - 0.25} && near <= (cl + 1) * ${s.margin.toExponential()}) {
          flag = 1;
        }
        ${pack}
      }
      w = w * ${weight};
    }
    return byte + 256 * flag;
  }`;
}
