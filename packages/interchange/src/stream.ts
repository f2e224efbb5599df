import {
  applyRope,
  type CalibrationBatch,
  type KvGeometry,
  kvHidden,
  queryHidden,
  ropeInverseFrequencies,
} from '@skvq/core';
import { fileError } from './errors.js';
import type { ActivationPlan, LayerPart } from './plan.js';
import { FileReaders } from './tensor-file.js';

/**
 * Bytes of float32 K (or V) per chunk: bounded memory whatever the file size. At 4096
 * channels this is 256 tokens; K, V, Q and their float32 copies together stay under ~20 MiB.
 */
export const CHUNK_BYTES = 4 << 20;

export interface StreamProgress {
  layer: number;
  /** Tokens of all layers read so far / in all. */
  done: number;
  total: number;
}

/**
 * Queries for captures that have none: each query head reads its own KV head's key
 * (q[h] = k[floor(h / gqaGroup)]), a self-attention stand-in that keeps the clip search's
 * attention-output objective defined. It is a proxy: capture `layers.{i}.q` for the real one.
 */
export function queriesFromKeys(
  geometry: KvGeometry,
  k: Float32Array,
  count: number,
): Float32Array {
  const { queryHeads, kvHeads, headDim } = geometry;
  const group = queryHeads / kvHeads;
  const kw = kvHidden(geometry);
  // MHA: the queries are the keys themselves (a view; calibrators copy what they keep).
  if (group === 1) return k.subarray(0, count * kw);
  const qw = queryHidden(geometry);
  const q = new Float32Array(count * qw);
  for (let t = 0; t < count; t++) {
    for (let h = 0; h < queryHeads; h++) {
      const g = Math.floor(h / group);
      q.set(k.subarray(t * kw + g * headDim, t * kw + (g + 1) * headDim), t * qw + h * headDim);
    }
  }
  return q;
}

/**
 * Undoes RoPE in place on `count` rows of `heads` heads at `positions`: RoPE is a rotation,
 * so the inverse is exact up to float rounding when style, theta and positions are right.
 */
export function unrotateRows(
  geometry: KvGeometry,
  data: Float32Array,
  heads: number,
  positions: Int32Array,
  count: number,
): void {
  if (geometry.rope.style === 'none') return;
  const inv = ropeInverseFrequencies(geometry.headDim, geometry.rope.theta);
  const width = heads * geometry.headDim;
  for (let t = 0; t < count; t++) {
    applyRope(data, t * width, heads, geometry.headDim, geometry.rope, positions[t]!, inv, -1);
  }
}

/**
 * Positions of a part: its `positions` tensor, else 0..tokens-1 (one sequence). Positions must
 * be non-negative; a sequence restarts wherever a position is not the previous one plus 1.
 */
function partPositions(
  readers: FileReaders,
  part: LayerPart,
  cache: Map<string, Int32Array>,
): Int32Array {
  if (!part.positions) return Int32Array.from({ length: part.tokens }, (_, i) => i);
  const key = `${part.positions.file}\u0000${part.positions.name}`;
  let p = cache.get(key);
  if (!p) {
    p = readers.readInts(part.positions);
    const bad = p.findIndex((x) => x < 0);
    if (bad >= 0) {
      fileError(
        'SHAPE_MISMATCH',
        part.positions,
        `element ${bad} is ${p[bad]}; expected positions >= 0`,
        { index: bad },
      );
    }
    cache.set(key, p);
  }
  return p;
}

/**
 * Streams a planned capture into `observe` as CalibrationBatch objects, layer by layer and
 * file by file, `CHUNK_BYTES` at a time, each batch cut where a sequence restarts (so a
 * calibrator that keeps consecutive tokens as attention samples never joins two sequences).
 * Post-RoPE keys (and queries) are rotated back to pre-RoPE first. Batches reuse buffers:
 * `observe` must copy what it keeps (the reorder calibrator does). Memory is O(chunk), not
 * O(file).
 */
export function streamActivations(
  plan: ActivationPlan,
  observe: (batch: CalibrationBatch) => void,
  onProgress?: (p: StreamProgress) => void,
): void {
  const { geometry } = plan;
  const kw = kvHidden(geometry);
  const qw = queryHidden(geometry);
  const chunk = Math.max(1, Math.floor(CHUNK_BYTES / (4 * Math.max(kw, qw))));
  const k = new Float32Array(chunk * kw);
  const v = new Float32Array(chunk * kw);
  const qBuf = new Float32Array(chunk * qw);
  const readers = new FileReaders();
  const positionCache = new Map<string, Int32Array>();
  const total = plan.tokens * geometry.layers;
  let done = 0;
  try {
    for (let layer = 0; layer < geometry.layers; layer++) {
      for (const part of plan.parts[layer]!) {
        const positions = partPositions(readers, part, positionCache);
        for (let start = 0; start < part.tokens; start += chunk) {
          const n = Math.min(chunk, part.tokens - start);
          readers.readFloatRows(part.k, start, n, k);
          readers.readFloatRows(part.v, start, n, v);
          const pos = positions.subarray(start, start + n);
          if (part.q) readers.readFloatRows(part.q, start, n, qBuf);
          if (plan.keys === 'post-rope') {
            unrotateRows(geometry, k, geometry.kvHeads, pos, n);
            if (part.q) unrotateRows(geometry, qBuf, geometry.queryHeads, pos, n);
          }
          const q = part.q ? qBuf : queriesFromKeys(geometry, k, n);
          let from = 0;
          for (let t = 1; t <= n; t++) {
            if (t < n && pos[t] === pos[t - 1]! + 1) continue;
            observe({
              layer,
              count: t - from,
              q: q.subarray(from * qw, t * qw),
              k: k.subarray(from * kw, t * kw),
              v: v.subarray(from * kw, t * kw),
              positions: pos.subarray(from, t),
            });
            from = t;
          }
          done += n;
          onProgress?.({ layer, done, total });
        }
      }
    }
  } finally {
    readers.close();
  }
}
