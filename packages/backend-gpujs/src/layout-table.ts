import { type BitWidth, maxQ, type QuantLayout } from '@skvq/core';
import { layoutPlan } from '@skvq/formats';

/** Floats per channel in a layout table: [byte in row, divisor, metadata pair index]. */
export const TABLE_STRIDE = 3;

/**
 * How a kernel reads the code of one channel from a packed row without bit operations
 * (GLSL ES 1.0 has none): the row is uploaded as one float per byte holding that byte plus
 * 256 x the next one (so a 3-bit code that straddles two bytes is one read), and the code
 * is `floor(pair / divisor) mod base` after dropping the next byte for formats that never
 * straddle. Divisors are powers of two, or of three for ternary (five trits per byte).
 */
export function codeBase(bits: BitWidth): number {
  return bits === 1.5 ? 3 : maxQ(bits) + 1;
}

function place(bits: BitWidth, j: number): [byte: number, divisor: number] {
  switch (bits) {
    case 8:
      return [j, 1];
    case 4:
      return [j >> 1, 16 ** (j & 1)];
    case 2:
      return [j >> 2, 4 ** (j & 3)];
    case 3:
      return [(3 * j) >> 3, 2 ** ((3 * j) & 7)];
    case 1.5:
      return [Math.floor(j / 5), 3 ** (j % 5)];
  }
}

const tables = new WeakMap<QuantLayout, Float32Array>();

/**
 * Per original channel c: where its code lies in a row (byte, divisor) and which scale/zero
 * pair dequantizes it (its group for token-group layouts, c itself for channel-block).
 * Cached per layout object, like @skvq/formats' layout plans.
 */
export function layoutTable(layout: QuantLayout): Float32Array {
  const cached = tables.get(layout);
  if (cached !== undefined) return cached;
  const C = layout.channels;
  const table = new Float32Array(C * TABLE_STRIDE);
  const { storageOf, pairOf } = layoutPlan(layout);
  for (let c = 0; c < C; c++) {
    const j = storageOf[c] as number;
    const [byte, divisor] = place(layout.bits, j);
    table[c * TABLE_STRIDE] = byte;
    table[c * TABLE_STRIDE + 1] = divisor;
    table[c * TABLE_STRIDE + 2] = pairOf[j] as number;
  }
  tables.set(layout, table);
  return table;
}
