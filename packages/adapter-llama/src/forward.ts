import { type AttentionCache, queryHidden, SkvqError } from '@skvq/core';
import { fail } from './errors.js';
import { matmul, rmsnorm, swiglu } from './matmul.js';
import type { ForwardOptions } from './model.js';
import { kvDimOf, type LlamaConfig, type LlamaWeights } from './weights.js';

/** Scratch buffers for a chunk of `capacity` tokens, grown on demand and reused. */
interface Scratch {
  capacity: number;
  x: Float32Array;
  xb: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  proj: Float32Array;
  gate: Float32Array;
  up: Float32Array;
}

function makeScratch(config: LlamaConfig, capacity: number): Scratch {
  const kvDim = kvDimOf(config);
  return {
    capacity,
    x: new Float32Array(capacity * config.dim),
    xb: new Float32Array(capacity * config.dim),
    q: new Float32Array(capacity * config.dim),
    k: new Float32Array(capacity * kvDim),
    v: new Float32Array(capacity * kvDim),
    proj: new Float32Array(capacity * config.dim),
    gate: new Float32Array(capacity * config.hiddenDim),
    up: new Float32Array(capacity * config.hiddenDim),
  };
}

export type ForwardFn = (
  tokens: ArrayLike<number>,
  cache: AttentionCache,
  options?: ForwardOptions,
) => Promise<Float32Array>;

/**
 * The Llama forward pass over a chunk of tokens (one token = a decode step): RMSNorm,
 * q/k/v projections (k pre-RoPE: the cache rotates it, and the queries, inside attention),
 * cache.append then attend / attendPrefill, output projection, SwiGLU feed-forward, final
 * norm and classifier. Every attention read goes through the cache.
 */
export function createForward(config: LlamaConfig, weights: LlamaWeights): ForwardFn {
  const { dim, hiddenDim, vocabSize, normEps } = config;
  const kvDim = kvDimOf(config);
  // Scratch buffers are pooled, not shared: forward awaits the cache, so calls on different
  // caches may interleave (e.g. two generations under Promise.all).
  const pool: Scratch[] = [];

  return async function forward(tokens, cache, options = {}) {
    const n = tokens.length;
    if (n === 0) fail('INVALID_ARGUMENT', 'forward needs at least one token, got 0');
    if (
      cache.geometry.layers !== config.layers ||
      queryHidden(cache.geometry) !== dim ||
      cache.geometry.kvHeads * cache.geometry.headDim !== kvDim
    ) {
      fail(
        'SHAPE_MISMATCH',
        `the cache geometry (${cache.geometry.layers} layers, ${cache.geometry.queryHeads}x${cache.geometry.headDim} query, ${cache.geometry.kvHeads} kv heads) does not fit the model (${config.layers} layers, ${config.heads}x${config.headDim}, ${config.kvHeads} kv heads)`,
      );
    }
    const start = cache.length(0);
    if (start + n > config.contextLength) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `positions ${start}..${start + n - 1} exceed the model's context length ${config.contextLength}`,
        { details: { start, count: n, contextLength: config.contextLength } },
      );
    }
    const pooled = pool.findIndex((p) => p.capacity >= n);
    const s = pooled >= 0 ? (pool.splice(pooled, 1)[0] as Scratch) : makeScratch(config, n);
    try {
      return await run(s, tokens, cache, options, start);
    } finally {
      pool.push(s);
    }
  };

  async function run(
    s: Scratch,
    tokens: ArrayLike<number>,
    cache: AttentionCache,
    options: ForwardOptions,
    start: number,
  ): Promise<Float32Array> {
    const n = tokens.length;
    const x = s.x;
    for (let t = 0; t < n; t++) {
      const id = tokens[t] as number;
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        fail(
          'INVALID_ARGUMENT',
          `token id ${id} at index ${t} is outside the vocabulary 0..${vocabSize - 1}`,
          { id, index: t },
        );
      }
      x.set(weights.tokenEmbedding.subarray(id * dim, (id + 1) * dim), t * dim);
    }
    let positions: Int32Array | undefined;
    if (options.onActivations) {
      positions = new Int32Array(n);
      for (let t = 0; t < n; t++) positions[t] = start + t;
    }
    for (let l = 0; l < config.layers; l++) {
      const w = weights.layers[l]!;
      rmsnorm(s.xb, x, w.attnNorm, n, dim, normEps);
      const q = s.q.subarray(0, n * dim);
      const k = s.k.subarray(0, n * kvDim);
      const v = s.v.subarray(0, n * kvDim);
      matmul(q, s.xb, w.wq, n, dim, dim);
      matmul(k, s.xb, w.wk, n, dim, kvDim);
      matmul(v, s.xb, w.wv, n, dim, kvDim);
      if (options.onActivations && positions) {
        options.onActivations({
          layer: l,
          count: n,
          q: q.slice(),
          k: k.slice(),
          v: v.slice(),
          positions,
        });
      }
      // caches may keep references to what they are given: hand them copies
      await cache.append(l, k.slice(), v.slice(), n);
      const att =
        n === 1
          ? await cache.attend(l, q.slice(), start)
          : await cache.attendPrefill(l, q.slice(), start, n);
      matmul(s.proj, att, w.wo, n, dim, dim);
      for (let i = 0; i < n * dim; i++) x[i] = (x[i] as number) + (s.proj[i] as number);
      rmsnorm(s.xb, x, w.ffnNorm, n, dim, normEps);
      matmul(s.gate, s.xb, w.w1, n, dim, hiddenDim);
      matmul(s.up, s.xb, w.w3, n, dim, hiddenDim);
      swiglu(s.gate, s.up, n * hiddenDim);
      matmul(s.proj, s.gate, w.w2, n, hiddenDim, dim);
      for (let i = 0; i < n * dim; i++) x[i] = (x[i] as number) + (s.proj[i] as number);
    }
    const mode = options.logits ?? 'last';
    if (mode === 'none') return new Float32Array(0);
    const first = mode === 'all' ? 0 : n - 1;
    const rows = n - first;
    const normed = new Float32Array(rows * dim);
    rmsnorm(normed, x.subarray(first * dim, n * dim), weights.finalNorm, rows, dim, normEps);
    const logits = new Float32Array(rows * vocabSize);
    matmul(logits, normed, weights.classifier, rows, dim, vocabSize);
    return logits;
  }
}
