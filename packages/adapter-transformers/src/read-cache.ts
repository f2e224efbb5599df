// Reads an SKVQ cache back as dense rows, in position order: full-precision segments are
// copied (fp16 bits widened), packed pages go through the backend's dequantize kernel.
// Only the public surface of @skvq/cache is used: DenseCache's per-layer stores and
// QuantizedCache.segments(layer).
import { type DenseCache, QuantizedCache } from '@skvq/cache';
import { type BackendPlugin, type KvSegment, kvHidden, SkvqError } from '@skvq/core';
import { f16BitsToF32 } from '@skvq/formats';

export type StoredCache = DenseCache | QuantizedCache;

function segmentsOf(cache: StoredCache, layer: number): { keys: KvSegment[]; values: KvSegment[] } {
  if (cache instanceof QuantizedCache) return cache.segments(layer);
  return { keys: cache.keys[layer]!.segments(), values: cache.values[layer]!.segments() };
}

/** One segment's tokens as float32 rows [count, channels], original channel order. */
function segmentRows(segment: KvSegment, channels: number, backend: BackendPlugin): Float32Array {
  if (segment.kind === 'fp') {
    const n = segment.count * channels;
    if (segment.precision === 'fp32') return (segment.data as Float32Array).subarray(0, n);
    const out = new Float32Array(n);
    const bits = segment.data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = f16BitsToF32(bits[i]!);
    return out;
  }
  const dequantize = backend.kernels.dequantize;
  if (!dequantize) {
    throw new SkvqError(
      'KERNEL_NOT_IMPLEMENTED',
      `backend "${backend.name}" has no dequantize kernel; materialising past_key_values needs one (use @skvq/backend-cpu)`,
      { details: { backend: backend.name, kernel: 'dequantize' } },
    );
  }
  const rows = dequantize({
    layout: segment.layout,
    codes: segment.codes,
    meta: segment.meta,
    first: 0,
    count: segment.count,
  });
  if (rows instanceof Promise) {
    // transformers.js reads past_key_values synchronously (Object.assign into the feeds)
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `backend "${backend.name}" dequantizes asynchronously; transformers.js past_key_values need a synchronous backend such as @skvq/backend-cpu`,
      { details: { backend: backend.name } },
    );
  }
  return rows;
}

/**
 * Layer `layer`'s keys or values as a dense [kvHeads, tokens, headDim] array (batch 1),
 * the layout of transformers.js `past_key_values.{layer}.key|value`.
 */
export function readLayer(
  cache: StoredCache,
  backend: BackendPlugin,
  layer: number,
  stream: 'keys' | 'values',
): Float32Array {
  const { kvHeads, headDim } = cache.geometry;
  const channels = kvHidden(cache.geometry);
  const tokens = cache.length(layer);
  const out = new Float32Array(tokens * channels);
  for (const segment of segmentsOf(cache, layer)[stream]) {
    const rows = segmentRows(segment, channels, backend);
    for (let t = 0; t < segment.count; t++) {
      const position = segment.positions[t]!;
      for (let h = 0; h < kvHeads; h++) {
        const from = t * channels + h * headDim;
        out.set(rows.subarray(from, from + headDim), (h * tokens + position) * headDim);
      }
    }
  }
  return out;
}

/** Rows [count, kvHidden] (token-major) of tokens first.. of a [kvHeads, total, headDim] tensor. */
export function tokenRows(
  data: Float32Array,
  kvHeads: number,
  total: number,
  headDim: number,
  first: number,
): Float32Array {
  const count = total - first;
  const channels = kvHeads * headDim;
  const out = new Float32Array(count * channels);
  for (let h = 0; h < kvHeads; h++) {
    for (let t = 0; t < count; t++) {
      const from = (h * total + first + t) * headDim;
      out.set(data.subarray(from, from + headDim), t * channels + h * headDim);
    }
  }
  return out;
}
