import { type LlamaModel, type PerplexityProtocol, perplexity } from '@skvq/adapter-llama';
import type { KvCache } from '@skvq/cache';
import {
  type BackendPlugin,
  type CacheBytes,
  type CalibrationArtifact,
  type CalibrationBatch,
  type Registry,
  SkvqError,
} from '@skvq/core';
import { splitBits } from './bits-split.js';
import { type CacheConfig, cacheFactory } from './caches.js';
import type { MethodSpec } from './methods.js';

/** Byte parts of CacheBytes that are summed for the breakdown. */
export const BYTE_PARTS = [
  'codes',
  'metadata',
  'positions',
  'window',
  'sinks',
  'keptFp',
  'permutations',
  'pageSlack',
] as const;
export type BytePart = (typeof BYTE_PARTS)[number];

export interface MethodResult {
  method: string;
  /** How the cache was exercised (SKVQ.md section 7): decode, prefill or prompt. */
  protocol: PerplexityProtocol;
  /** `prompt` protocol: prompt tokens per story (null: half of each story). */
  promptTokens?: number | null;
  window: number;
  sinks: number;
  groupSize: number;
  meta: string;
  ppl: number;
  meanNll: number;
  /** Perplexity change against fp32 in percent (0 for fp32 itself). */
  deltaPct: number;
  /**
   * Average bits per K/V element from the caches' real bytes: 8 * (sum over stories of the
   * bytes held at the end of the story: cache.bytes().total - pageSlack) / (sum of
   * elements), i.e. token-weighted. Codes, scales/zeros, window, sinks, kept and pending
   * full-precision tokens and permutations all count; unused page capacity does not.
   */
  avgBits: number;
  /** The same with the unused capacity of the last pages (cache.bytes().total as is). */
  avgBitsAllocated: number;
  /**
   * What grows with context: 8 * (codes + scales/zeros of quantized tokens) / their K/V
   * elements, summed over stories (dense caches: 16 or 32). Methods are compared on this.
   */
  codesMetaBits: number;
  /**
   * Fixed overhead in bits per element held (token-weighted like avgBitsAllocated): the
   * full-precision window and sinks, pending blocks, positions, permutations, page slack.
   * avgBitsAllocated = codes+metadata share + overheadBits.
   */
  overheadBits: number;
  /** Mean fixed-overhead bytes per story cache (bounded as the context grows). */
  overheadBytesPerStory: number;
  /** cache.bytes().bitsPerElement at the end of the longest story. */
  bitsAtLongest: number;
  longestTokens: number;
  /** Token-weighted bytes per token (all layers, K and V) and its breakdown. */
  bytesPerToken: number;
  breakdownPerToken: Record<BytePart, number>;
  /** Relative attention-output error per layer on real K/V (first stories), vs fp32. */
  attentionError: number[];
  stories: number;
  tokens: number;
  seconds: number;
  /** CPU seconds of this process while the method ran (user + system; wall time is shared). */
  cpuSeconds: number;
}

export interface EvaluateOptions {
  registry: Registry;
  backend: BackendPlugin;
  model: LlamaModel;
  stories: readonly string[];
  config: CacheConfig;
  /** For skvq streams; must fit the method's bits. */
  calibration?: CalibrationArtifact;
  /** fp32 perplexity the delta is measured against (NaN: none yet). */
  referencePpl: number;
  /** K/V/Q of the first stories, for the attention-error measurement. */
  attentionSamples: AttentionSample[];
  /** Default 'decode'. */
  protocol?: PerplexityProtocol;
  /** `prompt` protocol: prompt tokens per story (default half of each story). */
  promptTokens?: number;
  onStory?: (done: number, total: number) => void;
}

/** Captured per-layer activations of one story (inputs of the attention-error probe). */
export interface AttentionSample {
  tokens: number;
  layers: CalibrationBatch[];
}

/** Runs a story through a dense fp32 cache and keeps each layer's q, k, v. */
export async function captureAttentionSample(
  model: LlamaModel,
  backend: BackendPlugin,
  story: string,
  createDense: () => KvCache,
): Promise<AttentionSample> {
  const tokenizer = model.tokenizer;
  if (!tokenizer) throw new SkvqError('INVALID_ARGUMENT', 'evaluation needs the model tokenizer');
  void backend;
  const ids = tokenizer.encode(story);
  const n = Math.min(ids.length, model.config.contextLength);
  const layers: CalibrationBatch[] = [];
  await model.forward(ids.subarray(0, n), createDense(), {
    logits: 'none',
    onActivations: (b) => layers.push(b),
  });
  return { tokens: n, layers };
}

function norm2(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) ** 2;
  return s;
}

/**
 * Relative attention-output error per layer, ||o - o_ref|| / ||o_ref|| accumulated over the
 * samples: each layer's real K/V is appended to a fresh cache of the method and attended
 * with the real queries (causal prefill), against the same through a dense fp32 cache.
 */
export async function attentionErrorPerLayer(
  samples: readonly AttentionSample[],
  layers: number,
  make: () => KvCache,
  makeReference: () => KvCache,
): Promise<number[]> {
  const num = new Float64Array(layers);
  const den = new Float64Array(layers);
  for (const sample of samples) {
    const cache = make();
    const ref = makeReference();
    for (const b of sample.layers) {
      await cache.append(b.layer, b.k, b.v, b.count);
      await ref.append(b.layer, b.k, b.v, b.count);
      const out = await cache.attendPrefill(b.layer, b.q, 0, b.count);
      const exact = await ref.attendPrefill(b.layer, b.q, 0, b.count);
      const diff = new Float32Array(out.length);
      for (let i = 0; i < out.length; i++) diff[i] = (out[i] as number) - (exact[i] as number);
      num[b.layer]! += norm2(diff);
      den[b.layer]! += norm2(exact);
    }
  }
  return Array.from(num, (n, l) => (den[l]! > 0 ? Math.sqrt(n / den[l]!) : Number.NaN));
}

function emptyParts(): Record<BytePart, number> {
  return {
    codes: 0,
    metadata: 0,
    positions: 0,
    window: 0,
    sinks: 0,
    keptFp: 0,
    permutations: 0,
    pageSlack: 0,
  };
}

/** Evaluates one method under one configuration. */
export async function evaluateMethod(
  spec: MethodSpec,
  options: EvaluateOptions,
): Promise<MethodResult> {
  const { registry, backend, model, config } = options;
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const make = cacheFactory(registry, backend, model, spec, config, options.calibration);
  const makeReference = cacheFactory(
    registry,
    backend,
    model,
    { kind: 'dense', name: 'fp32', precision: 'fp32' },
    config,
    undefined,
  );
  let current: KvCache | undefined;
  let totalBytes = 0;
  let totalSlack = 0;
  let totalElements = 0;
  let codesMetaBytes = 0;
  let codesMetaElements = 0;
  let overheadBytes = 0;
  const parts = emptyParts();
  let longest: CacheBytes | undefined;
  const protocol = options.protocol ?? 'decode';
  const result = await perplexity(model, options.stories, {
    protocol,
    ...(protocol === 'prompt' && options.promptTokens !== undefined
      ? { promptTokens: options.promptTokens }
      : {}),
    cache: () => {
      current = make();
      return current;
    },
    onProgress: (p) => {
      // called once per story, right after its last forward: the cache is complete
      if (current) {
        const b = current.bytes();
        totalBytes += b.total;
        totalSlack += b.pageSlack;
        totalElements += b.elements;
        for (const k of Object.keys(parts) as BytePart[]) parts[k] += b[k];
        if (!longest || b.tokens > longest.tokens) longest = b;
        const split = splitBits(current);
        codesMetaBytes += split.codesMetaBytes;
        codesMetaElements += split.codesMetaElements;
        overheadBytes += split.overheadBytes;
        current = undefined;
      }
      options.onStory?.(p.stories, p.totalStories);
    },
  });
  const layers = model.geometry.layers;
  const attentionError = await attentionErrorPerLayer(
    options.attentionSamples,
    layers,
    make,
    makeReference,
  );
  // elements per token: layers * 2 (K, V) * kvHidden
  const elementsPerToken =
    totalElements > 0 && longest ? longest.elements / longest.tokens : Number.NaN;
  const tokensHeld = totalElements / elementsPerToken;
  const breakdownPerToken = emptyParts();
  for (const k of Object.keys(parts) as BytePart[]) breakdownPerToken[k] = parts[k] / tokensHeld;
  const ref = options.referencePpl;
  return {
    method: spec.name,
    protocol,
    ...(protocol === 'prompt' ? { promptTokens: options.promptTokens ?? null } : {}),
    window: config.window,
    sinks: config.sinks,
    groupSize: config.groupSize,
    meta: config.meta,
    ppl: result.ppl,
    meanNll: result.meanNll,
    deltaPct: Number.isFinite(ref) ? (100 * (result.ppl - ref)) / ref : 0,
    avgBits: totalElements > 0 ? (8 * (totalBytes - totalSlack)) / totalElements : Number.NaN,
    avgBitsAllocated: totalElements > 0 ? (8 * totalBytes) / totalElements : Number.NaN,
    codesMetaBits: codesMetaElements > 0 ? (8 * codesMetaBytes) / codesMetaElements : Number.NaN,
    overheadBits: totalElements > 0 ? (8 * overheadBytes) / totalElements : Number.NaN,
    overheadBytesPerStory: result.stories > 0 ? overheadBytes / result.stories : Number.NaN,
    bitsAtLongest: longest?.bitsPerElement ?? Number.NaN,
    longestTokens: longest?.tokens ?? 0,
    bytesPerToken: (totalBytes - totalSlack) / tokensHeld,
    breakdownPerToken,
    attentionError,
    stories: result.stories,
    tokens: result.tokens,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: cpuSecondsSince(cpuStart),
  };
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}
