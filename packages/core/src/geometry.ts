import { SkvqError } from './errors.js';

/**
 * How RoPE rotates a head's channels:
 * - 'pairwise': channels (2i, 2i+1) form a pair (llama2.c, GGUF llama);
 * - 'half': channels (i, i + headDim/2) form a pair (Hugging Face / NeoX layout);
 * - 'none': no rotary embedding.
 */
export type RopeStyle = 'pairwise' | 'half' | 'none';

export interface RopeConfig {
  style: RopeStyle;
  /** Base of the rotary frequencies: freq_i = theta^(-2i / headDim). */
  theta: number;
}

/** The KV geometry of a decoder-only model: everything a cache or a kernel needs. */
export interface KvGeometry {
  layers: number;
  queryHeads: number;
  kvHeads: number;
  headDim: number;
  rope: RopeConfig;
}

/** Channels of one token's K (or V) across all KV heads of a layer. */
export function kvHidden(geometry: KvGeometry): number {
  return geometry.kvHeads * geometry.headDim;
}

/** Channels of one token's queries across all query heads. */
export function queryHidden(geometry: KvGeometry): number {
  return geometry.queryHeads * geometry.headDim;
}

/** Query heads that share one KV head (GQA group size; 1 for MHA). */
export function gqaGroup(geometry: KvGeometry): number {
  return geometry.queryHeads / geometry.kvHeads;
}

function positiveInt(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/** Throws INVALID_GEOMETRY naming the first field that is wrong. */
export function validateGeometry(geometry: KvGeometry, where = 'geometry'): KvGeometry {
  const g = geometry as unknown as Record<string, unknown>;
  for (const field of ['layers', 'queryHeads', 'kvHeads', 'headDim'] as const) {
    if (!positiveInt(g[field])) {
      throw new SkvqError(
        'INVALID_GEOMETRY',
        `${where}.${field} must be a positive integer, got ${String(g[field])}`,
        { details: { field, value: g[field] } },
      );
    }
  }
  if (geometry.queryHeads % geometry.kvHeads !== 0) {
    throw new SkvqError(
      'INVALID_GEOMETRY',
      `${where}.queryHeads (${geometry.queryHeads}) must be a multiple of kvHeads (${geometry.kvHeads})`,
      { details: { queryHeads: geometry.queryHeads, kvHeads: geometry.kvHeads } },
    );
  }
  const rope = geometry.rope as unknown as Record<string, unknown> | undefined;
  if (!rope || !['pairwise', 'half', 'none'].includes(String(rope.style))) {
    throw new SkvqError(
      'INVALID_GEOMETRY',
      `${where}.rope.style must be one of pairwise, half, none; got ${String(rope?.style)}`,
      { details: { field: 'rope.style', value: rope?.style } },
    );
  }
  if (geometry.rope.style !== 'none') {
    if (geometry.headDim % 2 !== 0) {
      throw new SkvqError(
        'INVALID_GEOMETRY',
        `${where}.headDim (${geometry.headDim}) must be even for rope style ${geometry.rope.style}`,
        { details: { field: 'headDim', value: geometry.headDim } },
      );
    }
    if (typeof rope.theta !== 'number' || !(rope.theta > 0) || !Number.isFinite(rope.theta)) {
      throw new SkvqError(
        'INVALID_GEOMETRY',
        `${where}.rope.theta must be a positive finite number, got ${String(rope.theta)}`,
        { details: { field: 'rope.theta', value: rope.theta } },
      );
    }
  }
  return geometry;
}

/** True when two geometries describe the same cache layout. */
export function sameGeometry(a: KvGeometry, b: KvGeometry): boolean {
  return (
    a.layers === b.layers &&
    a.queryHeads === b.queryHeads &&
    a.kvHeads === b.kvHeads &&
    a.headDim === b.headDim &&
    a.rope.style === b.rope.style &&
    (a.rope.style === 'none' || a.rope.theta === b.rope.theta)
  );
}

/** Human-readable list of the fields where two geometries differ. */
export function geometryDifferences(expected: KvGeometry, actual: KvGeometry): string[] {
  const out: string[] = [];
  for (const field of ['layers', 'queryHeads', 'kvHeads', 'headDim'] as const) {
    if (expected[field] !== actual[field]) {
      out.push(`${field}: expected ${expected[field]}, got ${actual[field]}`);
    }
  }
  if (expected.rope.style !== actual.rope.style) {
    out.push(`rope.style: expected ${expected.rope.style}, got ${actual.rope.style}`);
  } else if (expected.rope.style !== 'none' && expected.rope.theta !== actual.rope.theta) {
    out.push(`rope.theta: expected ${expected.rope.theta}, got ${actual.rope.theta}`);
  }
  return out;
}

/**
 * One decoder layer of Llama-2-7B (SKVQ.md section 5), the geometry every benchmark, the
 * CLI's synthetic runs and the tests share: 32 query heads and 32 KV heads (MHA) of
 * dimension 128, so kvHidden = 4096; RoPE theta 10000. The RoPE style is 'half' because
 * Llama-2 as published in the Hugging Face layout (transformers' LlamaAttention) rotates
 * with rotate_half, pairing channels (i, i + 64); Meta's original checkpoints pair (2i, 2i+1)
 * and the conversion script permutes the q/k weights to match. The whole model is
 * `{ ...LLAMA2_7B_LAYER, layers: LLAMA2_7B_LAYERS }`.
 */
export const LLAMA2_7B_LAYER: Readonly<KvGeometry> = Object.freeze({
  layers: 1,
  queryHeads: 32,
  kvHeads: 32,
  headDim: 128,
  rope: Object.freeze<RopeConfig>({ style: 'half', theta: 10_000 }),
});

/** Decoder layers of Llama-2-7B. */
export const LLAMA2_7B_LAYERS = 32;
