import {
  type AttentionAttrs,
  applyRope,
  type BackendPlugin,
  type CacheBytes,
  type KvGeometry,
  type KvSegment,
  kvHidden,
  type MaybePromise,
  ropeInverseFrequencies,
  SkvqError,
  validateGeometry,
} from '@skvq/core';
import { finishBytes, zeroParts } from './bytes.js';
import { FP_BYTES, FP_PRECISIONS, FpPagedRows, type FpPrecision } from './fp-rows.js';
import { type CacheDecodeInputs, CacheKernels, type CachePrefillInputs } from './kernels.js';
import { checkFp16Range, checkPageTokensLimit } from './limits.js';
import { POSITION_BYTES, PositionIdentity } from './positions.js';
import { readSegments } from './read-back.js';
import { type CacheStore, cacheStoreOf } from './store.js';
import type { CacheDescription, KvCache } from './types.js';
import {
  checkAppend,
  checkAttend,
  checkAttendPrefill,
  checkOption,
  checkPositiveIntOption,
} from './validate.js';

/**
 * Largest full-precision page of a dense cache. Pages start at 16 tokens and grow to at most
 * an eighth of what is held (positions.ts, nextPageTokens), up to this size.
 */
export const DEFAULT_DENSE_PAGE_TOKENS = 1024;
const DENSE_FIRST_PAGE_TOKENS = 16;

export interface DenseCacheOptions {
  geometry: KvGeometry;
  precision: FpPrecision;
  backend: BackendPlugin;
  /** Store keys before RoPE and rotate inside the kernel (default true). */
  keysPreRope?: boolean;
  pageTokens?: number;
}

/**
 * Rotates a copy of `k` ([count, kvHidden]) by RoPE at positions start.. (post-RoPE caching).
 */
export function rotateKeys(
  geometry: KvGeometry,
  k: Float32Array,
  count: number,
  start: number,
  inverseFrequencies: Float64Array,
): Float32Array {
  const out = k.slice();
  const ch = kvHidden(geometry);
  for (let t = 0; t < count; t++) {
    applyRope(
      out,
      t * ch,
      geometry.kvHeads,
      geometry.headDim,
      geometry.rope,
      start + t,
      inverseFrequencies,
    );
  }
  return out;
}

/** A full-precision cache (fp32 or fp16 bits) behind the same surface as the quantized one. */
export class DenseCache implements KvCache {
  readonly kind = 'dense' as const;
  readonly geometry: KvGeometry;
  readonly keysPreRope: boolean;
  readonly keys: FpPagedRows[];
  readonly values: FpPagedRows[];
  readonly precision: FpPrecision;
  private readonly kernels: CacheKernels;
  /** Where the rows live: the backend's storage (host memory, or device memory). */
  readonly store: CacheStore;
  private readonly channels: number;
  private readonly invFreq: Float64Array;
  /** Positions of every page: views of one identity array (positions.ts). */
  private readonly identity = new PositionIdentity();

  constructor(private readonly options: DenseCacheOptions) {
    const where = 'createDenseCache';
    this.geometry = validateGeometry(options.geometry, `${where} geometry`);
    checkOption(options.precision, FP_PRECISIONS, 'precision', where);
    const pageTokens = options.pageTokens ?? DEFAULT_DENSE_PAGE_TOKENS;
    checkPositiveIntOption(pageTokens, 'pageTokens', where);
    this.keysPreRope = options.keysPreRope ?? true;
    this.precision = options.precision;
    const attrs: AttentionAttrs = { geometry: this.geometry, keysPreRope: this.keysPreRope };
    this.store = cacheStoreOf(options.backend);
    this.kernels = new CacheKernels(
      options.backend,
      { tokens: false, block: false },
      attrs,
      this.store,
    );
    this.channels = kvHidden(this.geometry);
    const bytesPerToken = this.channels * FP_BYTES[options.precision] + POSITION_BYTES;
    checkPageTokensLimit(pageTokens, bytesPerToken, where);
    this.invFreq =
      this.geometry.rope.style === 'none'
        ? new Float64Array(0)
        : ropeInverseFrequencies(this.geometry.headDim, this.geometry.rope.theta);
    const growth = {
      first: DENSE_FIRST_PAGE_TOKENS,
      min: DENSE_FIRST_PAGE_TOKENS,
      max: pageTokens,
    };
    const make = () =>
      new FpPagedRows(this.channels, options.precision, growth, this.identity, this.store);
    this.keys = Array.from({ length: this.geometry.layers }, make);
    this.values = Array.from({ length: this.geometry.layers }, make);
  }

  length(layer: number): number {
    return this.keys[layer]?.count ?? 0;
  }

  /** The backend's name (saveCache's errors name it). */
  get backendName(): string {
    return this.options.backend.name;
  }

  append(layer: number, k: Float32Array, v: Float32Array, count: number): void {
    checkAppend(this.geometry, layer, k, v, count, 'dense cache append');
    const start = this.length(layer);
    const storedK = this.keysPreRope ? k : rotateKeys(this.geometry, k, count, start, this.invFreq);
    if (this.precision === 'fp16') {
      // refused before anything is stored: fp16 would keep +-Infinity (then NaN attention)
      checkFp16Range(storedK, 'k', 'dense cache append');
      checkFp16Range(v, 'v', 'dense cache append');
    }
    const positions = new Int32Array(count);
    for (let i = 0; i < count; i++) positions[i] = start + i;
    this.keys[layer]!.appendFloat(storedK, 0, count, positions, 0);
    this.values[layer]!.appendFloat(v, 0, count, positions, 0);
  }

  attend(layer: number, q: Float32Array, position: number): MaybePromise<Float32Array> {
    const length = this.length(layer);
    checkAttend(this.geometry, layer, q, position, length, 'dense cache attend');
    const inputs: CacheDecodeInputs = {
      q,
      position,
      keys: this.keys[layer]!.cacheSegments(),
      values: this.values[layer]!.cacheSegments(),
      length,
    };
    return this.kernels.attendDecode(inputs);
  }

  attendPrefill(
    layer: number,
    q: Float32Array,
    start: number,
    count: number,
  ): MaybePromise<Float32Array> {
    const length = this.length(layer);
    checkAttendPrefill(this.geometry, layer, q, start, count, length, 'dense cache attendPrefill');
    const inputs: CachePrefillInputs = {
      q,
      start,
      count,
      keys: this.keys[layer]!.cacheSegments(),
      values: this.values[layer]!.cacheSegments(),
      length,
    };
    return this.kernels.attendPrefill(inputs);
  }

  /**
   * The K and V segments of a layer with their bytes on the host: the host arrays on host
   * storage, copies read through the storage on a device (a promise when reads are async).
   */
  readSegments(layer: number): MaybePromise<{ keys: KvSegment[]; values: KvSegment[] }> {
    const keys = this.keys[layer];
    if (keys === undefined) {
      throw new SkvqError('INVALID_ARGUMENT', `dense cache readSegments: no layer ${layer}`);
    }
    return readSegments(this.store, {
      keys: keys.cacheSegments(),
      values: this.values[layer]!.cacheSegments(),
    });
  }

  /** Every token of a dense cache is a full-precision token kept for good: keptFp. */
  bytes(): CacheBytes {
    const parts = zeroParts();
    parts.positions += this.identity.heldBytes();
    parts.pageSlack += this.identity.slackBytes();
    for (const store of [...this.keys, ...this.values]) {
      parts.keptFp += store.heldBytes();
      parts.pageSlack += store.slackBytes();
    }
    return finishBytes(
      parts,
      this.keys.map((s) => s.count),
      this.channels,
    );
  }

  reset(): void {
    for (const store of [...this.keys, ...this.values]) store.clear();
    this.identity.clear();
  }

  describe(): CacheDescription {
    return {
      kind: 'dense',
      geometry: this.geometry,
      keysPreRope: this.keysPreRope,
      fpPrecision: this.options.precision,
      layers: this.keys.map((store, layer) => ({
        layer,
        tokens: store.count,
        sinks: 0,
        window: 0,
        quantized: { k: 0, v: 0 },
        kept: store.count,
        pending: { k: 0, v: 0 },
        pages: { k: 0, v: 0 },
      })),
      bytes: this.bytes(),
    };
  }
}

/**
 * A full-precision KV cache (fp32, or fp16 stored as binary16 bits) with the same surface
 * as the quantized cache; attention goes through the backend's attendDecode/attendPrefill
 * kernels over fp segments.
 */
export function createDenseCache(options: DenseCacheOptions): DenseCache {
  return new DenseCache(options);
}
