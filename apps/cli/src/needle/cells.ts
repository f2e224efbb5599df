import { applyRope, type KvGeometry, mulberry32, SkvqError } from '@skvq/core';
import { fillGaussian } from './haystack.js';

/**
 * The cells of one filled cache: each (depth, margin) pair gets its own needle, in its own
 * query head and, when a head holds several, along a query direction orthogonal to the
 * others of that head. The query of a cell is zero in every other head, so no other needle
 * can add to its scores: needles of other heads live in channels it never reads, and a
 * needle of the same head adds `beta * (q_other . q_self) = 0` to its score. Needle
 * positions are distinct and, outside the full-precision sinks/window, at least
 * QUANTIZED_SPACING tokens apart, so no two needles share a quantization group or a KIVI
 * block either.
 */

/** Tokens between needles of one depth when they would be quantized (> a KIVI block). */
export const QUANTIZED_SPACING = 64;
/** Query scale per element, as `skvq synthetic` (haystack logits spread over a few units). */
export const NEEDLE_QUERY_SCALE = 0.3;
/** The needle's value: this many value standard deviations per channel (distinctive). */
export const NEEDLE_VALUE_SCALE = 3;

export interface NeedleCell {
  index: number;
  depth: number;
  margin: number;
  /** KV head (= query head: the layer is MHA) that holds the needle. */
  head: number;
  /** Index among the cells of the same head (orthogonal query directions). */
  slot: number;
  position: number;
}

/**
 * Cells for every (depth, margin): depth fraction f puts the needle near round(f (N - 2))
 * (N - 1 is the query's own token), margins of one depth step inward from there, one token
 * apart inside the full-precision sinks/window and QUANTIZED_SPACING apart elsewhere.
 */
export function layoutCells(
  depths: readonly number[],
  margins: readonly number[],
  tokens: number,
  kvHeads: number,
  window: number,
  sinks: number,
): NeedleCell[] {
  const cells: NeedleCell[] = [];
  const used = new Set<number>();
  const fpRegion = (p: number) => p < sinks || p >= tokens - window;
  for (const depth of depths) {
    const base = Math.round(depth * (tokens - 2));
    margins.forEach((margin, j) => {
      const dir = depth <= 0.5 ? 1 : -1;
      const step = fpRegion(base) ? 1 : QUANTIZED_SPACING;
      const position = base + dir * j * step;
      const crowded =
        !fpRegion(position) &&
        [...used].some((u) => !fpRegion(u) && Math.abs(u - position) < QUANTIZED_SPACING);
      if (position < 0 || position > tokens - 2 || used.has(position) || crowded) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `needle layout: ${tokens} tokens are too few for ${depths.length} depths x ${margins.length} margins (position ${position} collides, is within ${QUANTIZED_SPACING} tokens of another quantized needle, or leaves [0, ${tokens - 2}])`,
        );
      }
      used.add(position);
      const index = cells.length;
      cells.push({
        index,
        depth,
        margin,
        head: index % kvHeads,
        slot: Math.floor(index / kvHeads),
        position,
      });
    });
  }
  return cells;
}

/**
 * Pre-RoPE queries of the cells ([cells, headDim] float64): Gaussian draws per head,
 * Gram-Schmidt across the slots of a head (so a head's needles are invisible to each
 * other's queries), each rescaled to the norm of an i.i.d. NEEDLE_QUERY_SCALE draw.
 */
export function cellQueries(cells: readonly NeedleCell[], headDim: number, seed: number) {
  const out = new Float64Array(cells.length * headDim);
  const draw = new Float32Array(headDim);
  for (const cell of cells) {
    fillGaussian((seed * 7919 + cell.head * 131 + cell.slot) >>> 0, draw);
    const q = out.subarray(cell.index * headDim, (cell.index + 1) * headDim);
    for (let i = 0; i < headDim; i++) q[i] = (draw[i] as number) * NEEDLE_QUERY_SCALE;
    const norm = Math.hypot(...q);
    for (const other of cells) {
      if (other.head !== cell.head || other.slot >= cell.slot) continue;
      const o = out.subarray(other.index * headDim, (other.index + 1) * headDim);
      const oo = dot(o, o);
      const qo = dot(q, o);
      for (let i = 0; i < headDim; i++) q[i] = (q[i] as number) - (qo / oo) * (o[i] as number);
    }
    const now = Math.hypot(...q);
    for (let i = 0; i < headDim; i++) q[i] = ((q[i] as number) * norm) / now;
  }
  return out;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** The full query vector of a cell for `attend`: its head's query, zeros elsewhere. */
export function attendQuery(
  geometry: KvGeometry,
  cell: NeedleCell,
  queries: Float64Array,
): Float32Array {
  const { headDim } = geometry;
  const q = new Float32Array(geometry.queryHeads * headDim);
  for (let i = 0; i < headDim; i++) q[cell.head * headDim + i] = queries[cell.index * headDim + i]!;
  return q;
}

/**
 * Key-space direction u of a needle (pre-RoPE): RoPE at the needle's position turns it into
 * the query's direction at the query position P, so its score is beta |q| / sqrt(headDim)
 * above its base key's: u = R(P - d) q / |q|.
 */
export function needleDirection(
  geometry: KvGeometry,
  query: Float64Array,
  needlePosition: number,
  queryPosition: number,
): Float64Array {
  const u = Float64Array.from(query);
  const norm = Math.hypot(...u);
  for (let i = 0; i < u.length; i++) u[i] = (u[i] as number) / norm;
  applyRope(u, 0, 1, geometry.headDim, geometry.rope, queryPosition - needlePosition);
  return u;
}

/** The needle's distinctive value in its head: NEEDLE_VALUE_SCALE std, signs per cell. */
export function needleValue(cell: NeedleCell, vScale: Float32Array, headDim: number) {
  const rand = mulberry32((0x51ed27 + cell.index * 977) >>> 0);
  const out = new Float32Array(headDim);
  for (let i = 0; i < headDim; i++) {
    const c = cell.head * headDim + i;
    out[i] = (rand() < 0.5 ? -1 : 1) * NEEDLE_VALUE_SCALE * (vScale[c] as number);
  }
  return out;
}
