import {
  type AttentionAttrs,
  type CacheBytes,
  type KvGeometry,
  type KvSegment,
  type KvStream,
  kvHidden,
  type MaybePromise,
  type QuantLayout,
  ropeInverseFrequencies,
  SkvqError,
  validateGeometry,
} from '@skvq/core';
import { finishBytes, zeroParts } from './bytes.js';
import { rotateKeys } from './dense-cache.js';
import { FP_PRECISIONS, type FpPrecision } from './fp-rows.js';
import { CacheKernels } from './kernels.js';
import { CacheLayer, type LayerConfig, STREAMS } from './layer.js';
import { checkStreamSpec, permutationBytes, resolveLayout } from './layouts.js';
import { checkFp16Range } from './limits.js';
import { afterValue, settleAll } from './maybe-promise.js';
import { planMoves } from './moves.js';
import { OriginalChunk } from './original-prefill.js';
import { createLayerPolicy } from './policy.js';
import { PositionIdentity } from './positions.js';
import {
  DEFAULT_PAGE_TOKENS,
  KEPT_MIN_PAGE_TOKENS,
  KEPT_PAGE_TOKENS,
  PREFILL_ATTENTION_MODES,
  type PrefillAttention,
  type QuantizedCacheOptions,
  type StreamSpec,
} from './quantized-options.js';
import { readSegments } from './read-back.js';
import { planLeaving } from './run-plan.js';
import { type CacheStore, cacheStoreOf } from './store.js';
import type { CacheDescription, KvCache, LayerDescription, StreamDescription } from './types.js';
import {
  checkAppend,
  checkAttend,
  checkAttendPrefill,
  checkOption,
  checkPositiveIntOption,
} from './validate.js';

/** Builds the layers of a cache: fresh ones, or restored ones (loadCache). */
export type LayerFactory = (config: LayerConfig, layer: number) => CacheLayer;

const freshLayer: LayerFactory = (config) => new CacheLayer(config);

/**
 * The SKVQ compressed KV cache, a coordinator: it validates calls, asks each layer's policy
 * which tokens leave the window, hands them to the layer's streams (kept or quantized) and
 * the window, and gathers segments for the attention kernels. Storage, kernel dispatch and
 * byte accounting live in the streams (stream.ts), the window (window.ts) and kernels.ts.
 */
export class QuantizedCache implements KvCache {
  readonly kind = 'quantized' as const;
  readonly geometry: KvGeometry;
  readonly keysPreRope: boolean;
  readonly fpPrecision: FpPrecision;
  readonly pageTokens: number;
  readonly prefillAttention: PrefillAttention;
  private readonly layerStates: readonly CacheLayer[];
  private readonly channels: number;
  private readonly invFreq: Float64Array;
  private readonly kernels: CacheKernels;
  /** Where every byte of the cache lives: the backend's storage (host or device). */
  private readonly store: CacheStore;
  /** Positions of every contiguous run of tokens: one shared identity array (positions.ts). */
  private readonly identity = new PositionIdentity();

  /** `layers` is internal (loadCache restores through it); use createQuantizedCache. */
  constructor(
    readonly options: QuantizedCacheOptions,
    layers: LayerFactory = freshLayer,
  ) {
    const where = 'createQuantizedCache';
    this.geometry = validateGeometry(options.geometry, `${where} geometry`);
    this.channels = kvHidden(this.geometry);
    this.fpPrecision = options.fpPrecision ?? 'fp16';
    checkOption(this.fpPrecision, FP_PRECISIONS, 'fpPrecision', where);
    this.prefillAttention = options.prefillAttention ?? 'quantized';
    checkOption(this.prefillAttention, PREFILL_ATTENTION_MODES, 'prefillAttention', where);
    this.pageTokens = options.pageTokens ?? DEFAULT_PAGE_TOKENS;
    checkPositiveIntOption(this.pageTokens, 'pageTokens', where);
    checkStreamSpec(options.keys, 'keys');
    checkStreamSpec(options.values, 'values');
    this.keysPreRope = options.keysPreRope ?? options.keys.quantizer.keyRope !== 'post';
    const attrs: AttentionAttrs = { geometry: this.geometry, keysPreRope: this.keysPreRope };
    this.invFreq =
      this.geometry.rope.style === 'none'
        ? new Float64Array(0)
        : ropeInverseFrequencies(this.geometry.headDim, this.geometry.rope.theta);
    this.store = cacheStoreOf(options.backend);
    const states: CacheLayer[] = [];
    const needs = { tokens: false, block: false };
    for (let layer = 0; layer < this.geometry.layers; layer++) {
      const stream = (name: KvStream) => {
        const spec = name === 'k' ? options.keys : options.values;
        const layout = resolveLayout(options, spec, this.pageTokens, layer, name);
        if (layout.kind === 'token-group') needs.tokens = true;
        else needs.block = true;
        return {
          layout,
          channels: this.channels,
          precision: this.fpPrecision,
          pageTokens: this.pageTokens,
          keptGrowth: {
            first: policy.sinks || KEPT_MIN_PAGE_TOKENS,
            min: KEPT_MIN_PAGE_TOKENS,
            max: KEPT_PAGE_TOKENS,
          },
          identity: this.identity,
          store: this.store,
        };
      };
      const policy = createLayerPolicy(options, layer);
      const config: LayerConfig = {
        policy,
        channels: this.channels,
        streams: { k: stream('k'), v: stream('v') },
      };
      states.push(layers(config, layer));
    }
    this.layerStates = states;
    this.kernels = new CacheKernels(options.backend, needs, attrs, this.store);
  }

  length(layer: number): number {
    return this.layerStates[layer]?.length ?? 0;
  }

  /** The quantization layouts of one layer (read-only introspection). */
  layouts(layer: number): Readonly<Record<KvStream, QuantLayout>> {
    const state = this.layerStates[layer];
    if (state === undefined) {
      throw new SkvqError('INVALID_ARGUMENT', `quantized cache layouts: no layer ${layer}`);
    }
    return { k: state.k.layout, v: state.v.layout };
  }

  append(layer: number, k: Float32Array, v: Float32Array, count: number): MaybePromise<void> {
    const where = 'quantized cache append';
    checkAppend(this.geometry, layer, k, v, count, where);
    const state = this.layerStates[layer]!;
    const start = state.length;
    const end = start + count;
    const kIn = this.keysPreRope ? k : rotateKeys(this.geometry, k, count, start, this.invFreq);
    // Rows are stored in the window (and kept rows) at fpPrecision: refuse what fp16 would
    // turn into Infinity, as the dense cache does, before anything is stored.
    if (this.fpPrecision === 'fp16') {
      checkFp16Range(kIn, this.keysPreRope ? 'k' : 'k (after RoPE)', where);
      checkFp16Range(v, 'v', where);
    }
    const { window } = state;
    const windowStart = start - window.count;
    const decision = state.policy.admit(start, count);
    const { runs, leaveEnd } = planLeaving(decision, windowStart, start, end, window.window, layer);
    // Plan every move first (reads only), so nothing below can fail half-way.
    const moves = planMoves(
      state,
      runs,
      { k: kIn, v },
      start,
      windowStart,
      this.channels,
      this.store.device,
    );

    state.lastChunk?.release();
    const chunk =
      this.prefillAttention === 'original'
        ? OriginalChunk.record(start, count, kIn, v, this.channels, this.store)
        : null;
    const results: MaybePromise<void>[] = [];
    for (const move of moves) {
      for (const name of STREAMS) {
        const stream = state.stream(name);
        if (move.keep) stream.keep(move[name], move.count, move.positions);
        else
          stream.quantize(
            this.kernels,
            move[name],
            move.count,
            move.positions,
            results,
            chunk?.blockObserver(name),
          );
      }
    }
    window.dropFront(Math.min(window.count, leaveEnd - windowStart));
    const enter = Math.max(start, leaveEnd);
    window.append(kIn, v, enter - start, end - enter, enter);
    state.length = end;
    state.lastChunk = chunk;
    return settleAll(results);
  }

  /**
   * Keys and values segments of a layer: kept (sinks) + pages + pending + window, as the
   * kernels see them (host arrays). A cache on device storage has no host arrays: use
   * readSegments, which reads them back.
   */
  segments(layer: number): { keys: KvSegment[]; values: KvSegment[] } {
    if (this.store.device) {
      throw new SkvqError(
        'UNSUPPORTED_OPTION',
        `quantized cache segments: backend "${this.options.backend.name}" keeps the cache in device memory; use readSegments(layer) to read it back`,
      );
    }
    return this.layerStates[layer]!.segments() as { keys: KvSegment[]; values: KvSegment[] };
  }

  /**
   * The segments of a layer with their bytes on the host (inspection and tests): the host
   * arrays themselves on host storage, copies read through the storage on a device (a
   * promise when its reads are asynchronous).
   */
  readSegments(layer: number): MaybePromise<{ keys: KvSegment[]; values: KvSegment[] }> {
    const state = this.layerStates[layer];
    if (state === undefined) {
      throw new SkvqError('INVALID_ARGUMENT', `quantized cache readSegments: no layer ${layer}`);
    }
    return readSegments(this.store, state.segments());
  }

  attend(layer: number, q: Float32Array, position: number): MaybePromise<Float32Array> {
    const length = this.length(layer);
    checkAttend(this.geometry, layer, q, position, length, 'quantized cache attend');
    const state = this.layerStates[layer]!;
    const { keys, values } = state.segments();
    return this.observe(state, { q, position, keys, values, length }, (i) =>
      this.kernels.attendDecode(i),
    );
  }

  attendPrefill(
    layer: number,
    q: Float32Array,
    start: number,
    count: number,
  ): MaybePromise<Float32Array> {
    const length = this.length(layer);
    const where = 'quantized cache attendPrefill';
    checkAttendPrefill(this.geometry, layer, q, start, count, length, where);
    const state = this.layerStates[layer]!;
    const chunk = state.lastChunk;
    const { keys, values } =
      chunk?.covers(start, count) === true
        ? chunk.segments(state.window, { k: state.k, v: state.v })
        : state.segments();
    return this.observe(state, { q, start, count, keys, values, length }, (i) =>
      this.kernels.attendPrefill(i),
    );
  }

  /** Feeds per-position attention mass back to the policy when it wants it (heavy hitters). */
  private observe<I extends { length: number; attentionSums?: Float32Array }>(
    state: CacheLayer,
    inputs: I,
    run: (inputs: I) => MaybePromise<Float32Array>,
  ): MaybePromise<Float32Array> {
    const observe = state.policy.observeAttention;
    if (typeof observe !== 'function') return run(inputs);
    const sums = new Float32Array(inputs.length);
    inputs.attentionSums = sums;
    return afterValue(run(inputs), () => observe.call(state.policy, sums, inputs.length));
  }

  bytes(): CacheBytes {
    const parts = zeroParts();
    parts.positions += this.identity.heldBytes();
    parts.pageSlack += this.identity.slackBytes();
    for (const state of this.layerStates) {
      state.addBytes(parts);
      for (const name of STREAMS) parts.permutations += permutationBytes(state.stream(name).layout);
    }
    return finishBytes(
      parts,
      this.layerStates.map((s) => s.length),
      this.channels,
    );
  }

  reset(): void {
    for (const state of this.layerStates) state.clear();
    this.identity.clear();
  }

  describeLayer(layer: number): LayerDescription {
    const state = this.layerStates[layer]!;
    const sinks = state.k.kept.countBelow(state.policy.sinks);
    return {
      layer,
      tokens: state.length,
      sinks,
      window: state.window.count,
      quantized: { k: state.k.pages.count, v: state.v.pages.count },
      kept: state.k.kept.count - sinks,
      pending: { k: state.k.pending?.count ?? 0, v: state.v.pending?.count ?? 0 },
      pages: { k: state.k.pages.pages.length, v: state.v.pages.pages.length },
    };
  }

  describe(): CacheDescription {
    const stream = (spec: StreamSpec, layout: QuantLayout): StreamDescription => ({
      quantizer: spec.quantizer.name,
      bits: spec.bits,
      meta: spec.meta,
      layout: layout.kind,
      groupSize: spec.groupSize,
    });
    const first = this.layouts(0);
    return {
      kind: 'quantized',
      geometry: this.geometry,
      keysPreRope: this.keysPreRope,
      fpPrecision: this.fpPrecision,
      streams: { k: stream(this.options.keys, first.k), v: stream(this.options.values, first.v) },
      layers: this.layerStates.map((_, layer) => this.describeLayer(layer)),
      bytes: this.bytes(),
    };
  }
}

/** The layers of a cache, for saveCache (same package; not exported from the index). */
export function cacheLayers(cache: QuantizedCache): readonly CacheLayer[] {
  // biome-ignore lint/complexity/useLiteralKeys: package-internal access to a private field
  return cache['layerStates'];
}

/** The store of a cache, for saveCache (same package; not exported from the index). */
export function quantizedCacheStore(cache: QuantizedCache): CacheStore {
  // biome-ignore lint/complexity/useLiteralKeys: package-internal access to a private field
  return cache['store'];
}

/**
 * The SKVQ compressed KV cache: per layer, full-precision sinks and kept tokens, packed
 * pages of quantized tokens (never copied as a whole, never re-quantized), pending blocks
 * for channel-block streams, and the full-precision window.
 */
export function createQuantizedCache(options: QuantizedCacheOptions): QuantizedCache {
  return new QuantizedCache(options);
}
