import {
  type AttendDecodeInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  applyRope,
  type BackendPlugin,
  type CacheBytes,
  decodeJob,
  type KvGeometry,
  kvHidden,
  type MaybePromise,
  prefillJob,
  ropeInverseFrequencies,
  validateGeometry,
} from '@skvq/core';
import { requireAttend } from './backend.js';
import { finishBytes, zeroParts } from './bytes.js';
import { FP_PRECISIONS, FpPagedRows, type FpPrecision } from './fp-rows.js';
import type { CacheDescription, KvCache } from './types.js';
import {
  checkAppend,
  checkAttend,
  checkAttendPrefill,
  checkOption,
  checkPositiveIntOption,
} from './validate.js';

/** Tokens per full-precision page of a dense cache (a page is allocated when the last fills). */
export const DEFAULT_DENSE_PAGE_TOKENS = 1024;

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
  private readonly attendKernel;
  private readonly attrs: AttentionAttrs;
  private readonly channels: number;
  private readonly invFreq: Float64Array;

  constructor(private readonly options: DenseCacheOptions) {
    const where = 'createDenseCache';
    this.geometry = validateGeometry(options.geometry, `${where} geometry`);
    checkOption(options.precision, FP_PRECISIONS, 'precision', where);
    const pageTokens = options.pageTokens ?? DEFAULT_DENSE_PAGE_TOKENS;
    checkPositiveIntOption(pageTokens, 'pageTokens', where);
    this.keysPreRope = options.keysPreRope ?? true;
    this.precision = options.precision;
    this.attendKernel = requireAttend(options.backend);
    this.channels = kvHidden(this.geometry);
    this.attrs = { geometry: this.geometry, keysPreRope: this.keysPreRope };
    this.invFreq =
      this.geometry.rope.style === 'none'
        ? new Float64Array(0)
        : ropeInverseFrequencies(this.geometry.headDim, this.geometry.rope.theta);
    const make = () => new FpPagedRows(this.channels, options.precision, pageTokens);
    this.keys = Array.from({ length: this.geometry.layers }, make);
    this.values = Array.from({ length: this.geometry.layers }, make);
  }

  length(layer: number): number {
    return this.keys[layer]?.count ?? 0;
  }

  append(layer: number, k: Float32Array, v: Float32Array, count: number): void {
    checkAppend(this.geometry, layer, k, v, count, 'dense cache append');
    const start = this.length(layer);
    const storedK = this.keysPreRope ? k : rotateKeys(this.geometry, k, count, start, this.invFreq);
    const positions = new Int32Array(count);
    for (let i = 0; i < count; i++) positions[i] = start + i;
    this.keys[layer]!.appendFloat(storedK, 0, count, positions, 0);
    this.values[layer]!.appendFloat(v, 0, count, positions, 0);
  }

  attend(layer: number, q: Float32Array, position: number): MaybePromise<Float32Array> {
    const length = this.length(layer);
    checkAttend(this.geometry, layer, q, position, length, 'dense cache attend');
    const inputs: AttendDecodeInputs = {
      q,
      position,
      keys: this.keys[layer]!.segments(),
      values: this.values[layer]!.segments(),
      length,
    };
    return this.attendKernel(decodeJob(inputs), this.attrs);
  }

  attendPrefill(
    layer: number,
    q: Float32Array,
    start: number,
    count: number,
  ): MaybePromise<Float32Array> {
    const length = this.length(layer);
    checkAttendPrefill(this.geometry, layer, q, start, count, length, 'dense cache attendPrefill');
    const inputs: AttendPrefillInputs = {
      q,
      start,
      count,
      keys: this.keys[layer]!.segments(),
      values: this.values[layer]!.segments(),
      length,
    };
    return this.attendKernel(prefillJob(inputs), this.attrs);
  }

  /** Every token of a dense cache is a full-precision token kept for good: keptFp. */
  bytes(): CacheBytes {
    const parts = zeroParts();
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
 * as the quantized cache; attention goes through the backend's one attention job (`attend`)
 * over fp segments.
 */
export function createDenseCache(options: DenseCacheOptions): DenseCache {
  return new DenseCache(options);
}
