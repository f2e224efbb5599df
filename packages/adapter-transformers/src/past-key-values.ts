// A `past_key_values` for transformers.js `generate()` whose K/V live in an SKVQ cache.
//
// transformers.js treats `past_key_values` as a DynamicCache look-alike: before each session
// run it copies the object's own enumerable properties (`past_key_values.{l}.key|value`)
// into the feeds (Object.assign), after the run it calls `update()` with the `present.*`
// outputs renamed, and it asks `get_seq_length()` for the cached length. Here those
// properties are getters that materialise dense tensors from the SKVQ cache for that one
// run; `update()` appends only the new tokens of the presents to the cache and keeps no
// reference to the dense tensors. Between steps and turns only the SKVQ cache is held.
import { type DynamicCache, Tensor } from '@huggingface/transformers';
import {
  type DenseCache,
  type DenseCacheOptions,
  loadCache,
  type QuantizedCache,
  type QuantizedCacheOptions,
  saveCache,
  saveCacheAsync,
} from '@skvq/cache';
import { type BackendPlugin, type CacheBytes, kvHidden, SkvqError } from '@skvq/core';
import { readLayer, type StoredCache, tokenRows } from './read-cache.js';

const PAST_PREFIX = 'past_key_values.';

/** Byte counts of the tensors one session run saw (for the peak-vs-at-rest measurement). */
export interface RunTensorBytes {
  /** Dense past tensors materialised for the last run (all layers, K and V, fp32). */
  materialised: number;
  /** Present tensors the last run returned (all layers, K and V). */
  present: number;
}

export class SkvqPastKeyValues {
  readonly #cache: StoredCache;
  readonly #backend: BackendPlugin;
  #lastRun: RunTensorBytes = { materialised: 0, present: 0 };

  /**
   * `cache` holds the conversation's K/V: a QuantizedCache (SKVQ) or a DenseCache, made on
   * `transformersGeometry(model.config)` (rope 'none': keys arrive post-RoPE). `backend`
   * must dequantize synchronously (@skvq/backend-cpu).
   */
  constructor(cache: StoredCache, backend: BackendPlugin) {
    if (cache.geometry.rope.style !== 'none') {
      throw new SkvqError(
        'INVALID_GEOMETRY',
        `SkvqPastKeyValues: the cache geometry has rope style "${cache.geometry.rope.style}", but transformers.js hands over post-RoPE keys; build the cache on transformersGeometry(config) (rope "none")`,
        { details: { rope: cache.geometry.rope.style } },
      );
    }
    this.#cache = cache;
    this.#backend = backend;
    if (cache.length(0) > 0) this.#defineEntries();
  }

  /** The SKVQ cache behind this object (for describe(), inspection). */
  get cache(): StoredCache {
    return this.#cache;
  }

  /** Tokens held (transformers.js asks this before each step). */
  get_seq_length(): number {
    return this.#cache.length(0);
  }

  /** Called by generate() after each run with the presents (renamed past_key_values.*). */
  update(entries: Record<string, Tensor>): void {
    const { layers, kvHeads, headDim } = this.#cache.geometry;
    // the run's past inputs were the held tokens, materialised as fp32
    const materialised = this.denseBytes('fp32');
    // check every layer before appending any, so a rejected update leaves the cache as it was
    const checked = Array.from({ length: layers }, (_, layer) => this.#checkLayer(entries, layer));
    let present = 0;
    for (const [layer, { key, value, total }] of checked.entries()) {
      present += (key.data as Float32Array).byteLength + (value.data as Float32Array).byteLength;
      const held = this.#cache.length(layer);
      const count = total - held;
      if (count === 0) continue;
      const k = tokenRows(key.data as Float32Array, kvHeads, total, headDim, held);
      const v = tokenRows(value.data as Float32Array, kvHeads, total, headDim, held);
      const appended = this.#cache.append(layer, k, v, count);
      if (appended instanceof Promise) {
        throw new SkvqError(
          'UNSUPPORTED_OPTION',
          'SkvqPastKeyValues: the cache appends asynchronously; transformers.js calls update() synchronously, use a synchronous backend (@skvq/backend-cpu)',
        );
      }
    }
    this.#lastRun = { materialised, present };
    this.#defineEntries();
  }

  #checkLayer(
    entries: Record<string, Tensor>,
    layer: number,
  ): { key: Tensor; value: Tensor; total: number } {
    const { layers, kvHeads, headDim } = this.#cache.geometry;
    const key = entries[`${PAST_PREFIX}${layer}.key`];
    const value = entries[`${PAST_PREFIX}${layer}.value`];
    if (!key || !value) {
      throw new SkvqError(
        'SHAPE_MISMATCH',
        `SkvqPastKeyValues.update: layer ${layer} has no ${PAST_PREFIX}${layer}.key/value; the model has ${Object.keys(entries).length} cache entries for a ${layers}-layer cache`,
        { details: { layer, entries: Object.keys(entries) } },
      );
    }
    const total = key.dims[2]!;
    const expected = [1, kvHeads, total, headDim];
    for (const t of [key, value]) {
      if (t.type !== 'float32' || t.dims.join() !== expected.join()) {
        throw new SkvqError(
          'SHAPE_MISMATCH',
          `SkvqPastKeyValues.update: layer ${layer} tensor is ${t.type} [${t.dims.join(', ')}]; expected float32 [${expected.join(', ')}] (batch 1)`,
          { details: { layer, dims: t.dims, type: t.type } },
        );
      }
    }
    const held = this.#cache.length(layer);
    if (total < held) {
      throw new SkvqError(
        'CACHE_MISMATCH',
        `SkvqPastKeyValues.update: layer ${layer} got ${total} tokens but the cache already holds ${held}`,
        { details: { layer, total, held } },
      );
    }
    return { key, value, total };
  }

  /**
   * This object typed as transformers.js's DynamicCache, for `generate({ past_key_values })`
   * (it is a look-alike: same methods, cache entries as getters).
   */
  asDynamicCache(): DynamicCache {
    return this as unknown as DynamicCache;
  }

  /** Nothing on a device to free: present for DynamicCache compatibility. */
  async dispose(): Promise<void> {}

  /** Bytes the SKVQ cache holds now (what stays in memory between steps and turns). */
  bytes(): CacheBytes {
    return this.#cache.bytes();
  }

  /** Bytes the same tokens take as dense tensors (fp32: what a DynamicCache holds). */
  denseBytes(precision: 'fp32' | 'fp16' = 'fp32'): number {
    const g = this.#cache.geometry;
    const perElement = precision === 'fp32' ? 4 : 2;
    return this.#cache.length(0) * g.layers * 2 * kvHidden(g) * perElement;
  }

  /** Tensor bytes of the last session run: the transient peak on top of bytes(). */
  lastRunBytes(): RunTensorBytes {
    return { ...this.#lastRun };
  }

  /**
   * The cache as bytes (`saveCache`), e.g. to keep a chat across page loads. A typed
   * STORAGE_READ_ASYNC error when the cache's storage reads device memory asynchronously:
   * use saveAsync() there.
   */
  save(): Uint8Array {
    return saveCache(this.#cache);
  }

  /** The cache as bytes on any backend (`saveCacheAsync`: reads device memory back). */
  saveAsync(): Promise<Uint8Array> {
    return saveCacheAsync(this.#cache);
  }

  /** Restores `save()` bytes; `options` must be those the saved cache was created with. */
  static load(
    bytes: Uint8Array,
    options: DenseCacheOptions | QuantizedCacheOptions,
  ): SkvqPastKeyValues {
    const cache = loadCache(bytes, options as QuantizedCacheOptions) as DenseCache | QuantizedCache;
    return new SkvqPastKeyValues(cache, options.backend);
  }

  /** Own enumerable getters, one per cache input, that materialise a tensor when read. */
  #defineEntries(): void {
    const { layers, kvHeads, headDim } = this.#cache.geometry;
    for (let layer = 0; layer < layers; layer++) {
      for (const [kind, stream] of [
        ['key', 'keys'],
        ['value', 'values'],
      ] as const) {
        const name = `${PAST_PREFIX}${layer}.${kind}`;
        if (Object.hasOwn(this, name)) continue;
        Object.defineProperty(this, name, {
          enumerable: true,
          configurable: true,
          get: () => {
            const data = readLayer(this.#cache, this.#backend, layer, stream);
            return new Tensor('float32', data, [1, kvHeads, this.#cache.length(layer), headDim]);
          },
        });
      }
    }
  }
}
