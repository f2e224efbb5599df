import { type RopeConfig, ropeInverseFrequencies } from '@skvq/core';

/**
 * cos/sin of every (position, rotation pair) for one (headDim, theta), cached across calls
 * per geometry, so a decode step rotates each key with table loads and a few multiplies,
 * never a Math.cos per element. A flat [position, pair] table would need 1 GiB at 1M
 * tokens (SKVQ's target context), so positions are split n = hi * ROPE_TABLE_STEP + lo and
 * the angle-addition formula combines a small `lo` table with a `hi` table that grows with
 * the context: 2 x 64 pairs x 8 B per 256 positions, 4 MiB at 1M tokens. Values are
 * float64 like core's applyRope; the two-step angle differs from n * f by ~1e-16 relative.
 */
export const ROPE_TABLE_STEP = 256;

export interface RopeTable {
  readonly half: number;
  /** cos/sin(lo * f_i), [ROPE_TABLE_STEP, half]. */
  readonly loCos: Float64Array;
  readonly loSin: Float64Array;
  /** cos/sin(hi * ROPE_TABLE_STEP * f_i), [hiCount, half]. */
  readonly hiCos: Float64Array;
  readonly hiSin: Float64Array;
  /** Positions covered: hiCount * ROPE_TABLE_STEP. */
  readonly positions: number;
  /** theta^(-2i/headDim), for positions past the table (rotated without it). */
  readonly inverseFrequencies: Float64Array;
}

const tables = new Map<string, RopeTable>();

function angles(inv: Float64Array, count: number, stride: number): [Float64Array, Float64Array] {
  const half = inv.length;
  const cos = new Float64Array(count * half);
  const sin = new Float64Array(count * half);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < half; i++) {
      const angle = n * stride * (inv[i] as number);
      cos[n * half + i] = Math.cos(angle);
      sin[n * half + i] = Math.sin(angle);
    }
  }
  return [cos, sin];
}

/** The table of (headDim, rope.theta), grown (doubling) to cover positions < needPositions. */
export function ropeTable(headDim: number, rope: RopeConfig, needPositions: number): RopeTable {
  const key = `${headDim}:${rope.theta}`;
  const cached = tables.get(key);
  if (cached !== undefined && cached.positions >= needPositions) return cached;
  const inv = ropeInverseFrequencies(headDim, rope.theta);
  const [loCos, loSin] =
    cached === undefined ? angles(inv, ROPE_TABLE_STEP, 1) : [cached.loCos, cached.loSin];
  const hiCount = Math.max(
    Math.ceil(needPositions / ROPE_TABLE_STEP),
    2 * (cached === undefined ? 0 : cached.positions / ROPE_TABLE_STEP),
    1,
  );
  const [hiCos, hiSin] = angles(inv, hiCount, ROPE_TABLE_STEP);
  const table: RopeTable = {
    half: headDim / 2,
    loCos,
    loSin,
    hiCos,
    hiSin,
    positions: hiCount * ROPE_TABLE_STEP,
    inverseFrequencies: inv,
  };
  tables.set(key, table);
  return table;
}

/**
 * Rotates `heads` heads of `row` (natural channel order) in place as RoPE at `position`:
 * the same rotation as core's applyRope, with cos/sin from the table.
 */
export function rotateRow(
  row: Float32Array | Float64Array,
  heads: number,
  headDim: number,
  style: 'pairwise' | 'half',
  table: RopeTable,
  position: number,
): void {
  const half = table.half;
  if (position >= table.positions) {
    rotateRowDirect(row, heads, headDim, style, table, position);
    return;
  }
  const hi = Math.floor(position / ROPE_TABLE_STEP) * half;
  const lo = (position % ROPE_TABLE_STEP) * half;
  const stride = style === 'half' ? 1 : 2;
  const partner = style === 'half' ? half : 1;
  const { loCos, loSin, hiCos, hiSin } = table;
  for (let i = 0; i < half; i++) {
    const ch = hiCos[hi + i] as number;
    const sh = hiSin[hi + i] as number;
    const cl = loCos[lo + i] as number;
    const sl = loSin[lo + i] as number;
    // cos(a + b), sin(a + b) with a = hi * STEP * f_i and b = lo * f_i.
    const c = ch * cl - sh * sl;
    const s = sh * cl + ch * sl;
    for (let h = 0; h < heads; h++) {
      const pa = h * headDim + i * stride;
      const pb = pa + partner;
      const a = row[pa] as number;
      const b = row[pb] as number;
      row[pa] = a * c - b * s;
      row[pb] = a * s + b * c;
    }
  }
}

/** rotateRow for a position past the table: cos/sin computed (core's applyRope formula). */
function rotateRowDirect(
  row: Float32Array | Float64Array,
  heads: number,
  headDim: number,
  style: 'pairwise' | 'half',
  table: RopeTable,
  position: number,
): void {
  const half = table.half;
  const stride = style === 'half' ? 1 : 2;
  const partner = style === 'half' ? half : 1;
  for (let i = 0; i < half; i++) {
    const angle = position * (table.inverseFrequencies[i] as number);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    for (let h = 0; h < heads; h++) {
      const pa = h * headDim + i * stride;
      const pb = pa + partner;
      const a = row[pa] as number;
      const b = row[pb] as number;
      row[pa] = a * c - b * s;
      row[pb] = a * s + b * c;
    }
  }
}
