import { applyRope, type KvGeometry, kvHidden, ropeInverseFrequencies, ropePair } from '@skvq/core';
import {
  cellQueries,
  dot,
  layoutCells,
  type NeedleCell,
  needleDirection,
  needleValue,
} from './cells.js';
import {
  CHUNK_TOKENS,
  chunkCount,
  chunkSize,
  type HaystackStructure,
  haystackKeys,
  haystackStructure,
  haystackValues,
} from './haystack.js';

/**
 * Everything that defines one context of the needle test, and the passes over it. The
 * needle of a cell is its base haystack key plus beta u (u from needleDirection), with beta
 * chosen after a pre-pass over the haystack so that its logit against the cell's query is
 * exactly `margin` above the best logit of every other position (fp32 keys, float64 math).
 */
export interface NeedlePlan {
  geometry: KvGeometry;
  tokens: number;
  seed: number;
  structure: HaystackStructure;
  cells: NeedleCell[];
  /** Pre-RoPE queries, [cells, headDim]. */
  queries: Float64Array;
  /** The query's position (the last token). */
  queryPosition: number;
  /** Softmax scale 1/sqrt(headDim) (the kernels' default). */
  scale: number;
  /** Per cell: haystack statistics of its logits and the needle's beta. */
  haystack: HaystackStats[];
  beta: Float64Array;
  directions: Float64Array[];
  values: Float32Array[];
}

export interface HaystackStats {
  /** Best logit over every position except the needle's. */
  best: number;
  /** Logit of the base key at the needle's position. */
  base: number;
  mean: number;
  std: number;
}

export interface PlanOptions {
  geometry: KvGeometry;
  tokens: number;
  depths: readonly number[];
  margins: readonly number[];
  window: number;
  sinks: number;
  seed: number;
  structureSeed: number;
  onChunk?: (done: number, total: number) => void;
}

/** Rotated query heads of all cells at the query position, float64 ([cells, headDim]). */
function rotatedQueries(plan: Pick<NeedlePlan, 'geometry' | 'queries' | 'queryPosition'>) {
  const out = Float64Array.from(plan.queries);
  const { headDim, rope } = plan.geometry;
  applyRope(out, 0, out.length / headDim, headDim, rope, plan.queryPosition);
  return out;
}

/**
 * Calls `visit(position, head, rotated)` for every position and every head that holds a
 * cell, with the head's key rotated by RoPE at its position in float64.
 */
export function forEachRotatedKey(
  geometry: KvGeometry,
  heads: readonly number[],
  k: Float32Array,
  start: number,
  count: number,
  visit: (position: number, head: number, rotated: Float64Array) => void,
): void {
  const { headDim, rope } = geometry;
  const half = headDim / 2;
  const inv = ropeInverseFrequencies(headDim, rope.theta);
  const pairs = Array.from({ length: half }, (_, i) => ropePair(rope.style, headDim, i));
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  const rotated = new Float64Array(headDim);
  const ch = kvHidden(geometry);
  for (let t = 0; t < count; t++) {
    const p = start + t;
    for (let i = 0; i < half; i++) {
      const a = p * (inv[i] as number);
      cos[i] = rope.style === 'none' ? 1 : Math.cos(a);
      sin[i] = rope.style === 'none' ? 0 : Math.sin(a);
    }
    for (const head of heads) {
      const row = t * ch + head * headDim;
      for (let i = 0; i < half; i++) {
        const [pa, pb] = pairs[i]!;
        const a = k[row + pa] as number;
        const b = k[row + pb] as number;
        rotated[pa] = a * cos[i]! - b * sin[i]!;
        rotated[pb] = a * sin[i]! + b * cos[i]!;
      }
      visit(p, head, rotated);
    }
  }
}

/** Heads that hold at least one cell, and the cells of each. */
export function cellsByHead(cells: readonly NeedleCell[]): Map<number, NeedleCell[]> {
  const map = new Map<number, NeedleCell[]>();
  for (const c of cells) map.set(c.head, [...(map.get(c.head) ?? []), c]);
  return map;
}

/** Builds the plan: cells, queries, and (one pass over the haystack keys) every beta. */
export function planNeedles(options: PlanOptions): NeedlePlan {
  const { geometry, tokens } = options;
  const { headDim } = geometry;
  const cells = layoutCells(
    options.depths,
    options.margins,
    tokens,
    geometry.kvHeads,
    options.window,
    options.sinks,
  );
  const queries = cellQueries(cells, headDim, options.seed);
  const queryPosition = tokens - 1;
  const scale = 1 / Math.sqrt(headDim);
  const structure = haystackStructure(geometry, options.structureSeed);
  const qr = rotatedQueries({ geometry, queries, queryPosition });
  const byHead = cellsByHead(cells);
  const heads = [...byHead.keys()];
  const best = new Float64Array(cells.length).fill(Number.NEGATIVE_INFINITY);
  const base = new Float64Array(cells.length);
  const sum = new Float64Array(cells.length);
  const sumSq = new Float64Array(cells.length);
  const k = new Float32Array(CHUNK_TOKENS * structure.channels);
  const chunks = chunkCount(tokens);
  for (let i = 0; i < chunks; i++) {
    const count = chunkSize(tokens, i);
    haystackKeys(structure, options.seed, i, count, k);
    forEachRotatedKey(geometry, heads, k, i * CHUNK_TOKENS, count, (p, head, rotated) => {
      for (const cell of byHead.get(head)!) {
        const s =
          scale * dot(qr.subarray(cell.index * headDim, (cell.index + 1) * headDim), rotated);
        sum[cell.index] = (sum[cell.index] as number) + s;
        sumSq[cell.index] = (sumSq[cell.index] as number) + s * s;
        if (p === cell.position) base[cell.index] = s;
        else if (s > best[cell.index]!) best[cell.index] = s;
      }
    });
    options.onChunk?.(i + 1, chunks);
  }
  const haystack = cells.map((c) => {
    const mean = sum[c.index]! / tokens;
    return {
      best: best[c.index]!,
      base: base[c.index]!,
      mean,
      std: Math.sqrt(Math.max(0, sumSq[c.index]! / tokens - mean * mean)),
    };
  });
  const beta = new Float64Array(cells.length);
  const directions: Float64Array[] = [];
  const values: Float32Array[] = [];
  for (const c of cells) {
    const q = queries.subarray(c.index * headDim, (c.index + 1) * headDim);
    const h = haystack[c.index]!;
    // logit(base + beta u) = base + scale * beta * |q|  (u is unit and rotates onto q)
    beta[c.index] = (h.best + c.margin - h.base) / (scale * Math.hypot(...q));
    directions.push(needleDirection(geometry, q, c.position, queryPosition));
    values.push(needleValue(c, structure.vScale, headDim));
  }
  return {
    geometry,
    tokens,
    seed: options.seed,
    structure,
    cells,
    queries,
    queryPosition,
    scale,
    haystack,
    beta,
    directions,
    values,
  };
}

/**
 * Generates chunk `i` with the needles planted (keys: base + beta u in the cell's head;
 * values: the needle value), into k and v. Returns the chunk's token count.
 */
export function plantedChunk(plan: NeedlePlan, i: number, k: Float32Array, v: Float32Array) {
  const count = chunkSize(plan.tokens, i);
  haystackKeys(plan.structure, plan.seed, i, count, k);
  haystackValues(plan.structure, plan.seed, i, count, v);
  const start = i * CHUNK_TOKENS;
  const { headDim } = plan.geometry;
  const ch = plan.structure.channels;
  for (const c of plan.cells) {
    const t = c.position - start;
    if (t < 0 || t >= count) continue;
    const row = t * ch + c.head * headDim;
    const u = plan.directions[c.index]!;
    const b = plan.beta[c.index]!;
    const val = plan.values[c.index]!;
    for (let j = 0; j < headDim; j++) {
      k[row + j] = (k[row + j] as number) + b * (u[j] as number);
      v[row + j] = val[j] as number;
    }
  }
  return count;
}

export { rotatedQueries };
