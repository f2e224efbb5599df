// Reads an SKVQ cache back as dense rows, in position order: full-precision segments are
// copied (fp16 bits widened), packed pages go through the backend's dequantize kernel.
// Only the public surface of @skvq/cache is used: `readSegments(layer)` of both caches,
// which hands back host copies of a cache kept in device memory (WebGPU, gpu.js, CUDA) and
// the host arrays themselves otherwise. `segments()` would refuse a device cache.
import type { DenseCache, QuantizedCache } from '@skvq/cache';
import {
  type BackendPlugin,
  type KvSegment,
  kvHidden,
  type MaybePromise,
  SkvqError,
} from '@skvq/core';
import { f16BitsToF32 } from '@skvq/formats';

export type StoredCache = DenseCache | QuantizedCache;

type LayerSegments = { keys: KvSegment[]; values: KvSegment[] };

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
}

/** One segment's tokens as float32 rows [count, channels], original channel order. */
function segmentRows(
  segment: KvSegment,
  channels: number,
  backend: BackendPlugin,
): MaybePromise<Float32Array> {
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
  return dequantize({
    layout: segment.layout,
    codes: segment.codes,
    meta: segment.meta,
    first: 0,
    count: segment.count,
  });
}

/** Places each segment's rows at its positions in a [kvHeads, tokens, headDim] array. */
function placeRows(
  cache: StoredCache,
  layer: number,
  segments: readonly KvSegment[],
  rows: readonly Float32Array[],
): Float32Array {
  const { kvHeads, headDim } = cache.geometry;
  const channels = kvHidden(cache.geometry);
  const tokens = cache.length(layer);
  const out = new Float32Array(tokens * channels);
  segments.forEach((segment, s) => {
    const data = rows[s]!;
    for (let t = 0; t < segment.count; t++) {
      const position = segment.positions[t]!;
      for (let h = 0; h < kvHeads; h++) {
        const from = t * channels + h * headDim;
        out.set(data.subarray(from, from + headDim), (h * tokens + position) * headDim);
      }
    }
  });
  return out;
}

/**
 * Layer `layer`'s keys or values as a dense [kvHeads, tokens, headDim] array (batch 1),
 * the layout of transformers.js `past_key_values.{layer}.key|value`. Works on every
 * backend: a cache in device memory is read back through its storage (readSegments).
 */
export async function readLayerAsync(
  cache: StoredCache,
  backend: BackendPlugin,
  layer: number,
  stream: 'keys' | 'values',
): Promise<Float32Array> {
  const segments = (await cache.readSegments(layer))[stream];
  const channels = kvHidden(cache.geometry);
  const rows = await Promise.all(segments.map((s) => segmentRows(s, channels, backend)));
  return placeRows(cache, layer, segments, rows);
}

/**
 * readLayerAsync, synchronously: transformers.js reads past_key_values synchronously
 * (Object.assign into the feeds). A typed error when the cache's storage reads its device
 * memory asynchronously (WebGPU) or the backend dequantizes asynchronously: use
 * readLayerAsync there, or a synchronous backend such as @skvq/backend-cpu.
 */
export function readLayer(
  cache: StoredCache,
  backend: BackendPlugin,
  layer: number,
  stream: 'keys' | 'values',
): Float32Array {
  const read: MaybePromise<LayerSegments> = cache.readSegments(layer);
  if (isPromise(read)) {
    // the read was started; its result is dropped (and a rejection must not go unhandled)
    read.catch(() => undefined);
    throw new SkvqError(
      'STORAGE_READ_ASYNC',
      `the cache's storage reads its device memory asynchronously (backend "${backend.name}"); transformers.js past_key_values need a synchronous backend such as @skvq/backend-cpu (readLayerAsync reads any cache)`,
      { details: { backend: backend.name } },
    );
  }
  const segments = read[stream];
  const channels = kvHidden(cache.geometry);
  const rows = segments.map((segment) => {
    const r = segmentRows(segment, channels, backend);
    if (isPromise(r)) {
      r.catch(() => undefined);
      throw new SkvqError(
        'UNSUPPORTED_OPTION',
        `backend "${backend.name}" dequantizes asynchronously; transformers.js past_key_values need a synchronous backend such as @skvq/backend-cpu (readLayerAsync reads any cache)`,
        { details: { backend: backend.name } },
      );
    }
    return r;
  });
  return placeRows(cache, layer, segments, rows);
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
