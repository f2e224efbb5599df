import type { AttentionCache } from '@skvq/core';
import { fail } from './errors.js';
import { causalAttention } from './full-attention.js';
import { matmul, rmsnorm, swiglu } from './matmul.js';
import type { LlamaModel } from './model.js';
import { kvDimOf } from './weights.js';

export interface TeacherForcedOptions {
  /**
   * The first `promptTokens` tokens are a prompt (the `prompt` protocol): each layer attends
   * them with full-precision causal attention on the original K/V, then appends them to the
   * cache in one call (stored as the cache's policy says: quantized outside window and
   * sinks). Default 0: every token is a decode step (the `decode` protocol).
   */
  promptTokens?: number;
  /** First row whose logits are returned (default 0); rows before it are not computed. */
  firstLogitRow?: number;
}

/**
 * Teacher-forced streaming over a known token sequence, computed layer by layer: the
 * `decode` protocol's fast path. For each layer it projects q/k/v of every token at once,
 * then appends and attends ONE token at a time through the cache (cache.append(layer, k_t,
 * v_t, 1) then cache.attend(layer, q_t, t)), so the query at position t reads exactly the
 * cache state that token-by-token generation would show it: sinks and its own last W tokens
 * at full precision, older tokens quantized, a channel-block quantizer's incomplete block
 * pending. Only the cache calls are per token; the matmuls, norms and feed-forward run over
 * the whole sequence. This equals `model.forward` called with one token at a time because a
 * cache's layers are independent and every other step of the forward pass is per token (a
 * test checks logits within 1e-5 for SKVQ, KIVI, RTN and mixed caches).
 *
 * Returns logits [rows, vocab] for rows firstLogitRow .. n-1. The cache must be empty.
 */
export async function teacherForcedLogits(
  model: LlamaModel,
  tokens: ArrayLike<number>,
  cache: AttentionCache,
  options: TeacherForcedOptions = {},
): Promise<Float32Array> {
  const { config, weights } = model;
  const { dim, hiddenDim, vocabSize, normEps } = config;
  const kvDim = kvDimOf(config);
  const n = tokens.length;
  const prompt = options.promptTokens ?? 0;
  const firstRow = options.firstLogitRow ?? 0;
  if (n === 0) fail('INVALID_ARGUMENT', 'teacher-forced forward needs at least one token, got 0');
  if (!Number.isInteger(prompt) || prompt < 0 || prompt > n)
    fail('INVALID_ARGUMENT', `promptTokens must be an integer in 0..${n}, got ${prompt}`);
  if (!Number.isInteger(firstRow) || firstRow < 0 || firstRow >= n)
    fail('INVALID_ARGUMENT', `firstLogitRow must be an integer in 0..${n - 1}, got ${firstRow}`);
  if (n > config.contextLength)
    fail(
      'INVALID_ARGUMENT',
      `${n} tokens exceed the model's context length ${config.contextLength}`,
    );
  const g = cache.geometry;
  if (g.layers !== config.layers || g.kvHeads * g.headDim !== kvDim || g.headDim !== config.headDim)
    fail(
      'SHAPE_MISMATCH',
      `the cache geometry (${g.layers} layers, ${g.kvHeads}x${g.headDim} kv) does not fit the model (${config.layers} layers, ${config.kvHeads}x${config.headDim} kv)`,
    );
  for (let l = 0; l < config.layers; l++) {
    if (cache.length(l) !== 0)
      fail(
        'INVALID_ARGUMENT',
        `the cache must be empty; layer ${l} holds ${cache.length(l)} tokens`,
      );
  }
  const x = new Float32Array(n * dim);
  for (let t = 0; t < n; t++) {
    const id = tokens[t] as number;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
      fail(
        'INVALID_ARGUMENT',
        `token id ${id} at index ${t} is outside the vocabulary 0..${vocabSize - 1}`,
      );
    x.set(weights.tokenEmbedding.subarray(id * dim, (id + 1) * dim), t * dim);
  }
  const xb = new Float32Array(n * dim);
  const q = new Float32Array(n * dim);
  const k = new Float32Array(n * kvDim);
  const v = new Float32Array(n * kvDim);
  const att = new Float32Array(n * dim);
  const proj = new Float32Array(n * dim);
  const gate = new Float32Array(n * hiddenDim);
  const up = new Float32Array(n * hiddenDim);
  for (let l = 0; l < config.layers; l++) {
    const w = weights.layers[l]!;
    rmsnorm(xb, x, w.attnNorm, n, dim, normEps);
    matmul(q, xb, w.wq, n, dim, dim);
    matmul(k, xb, w.wk, n, dim, kvDim);
    matmul(v, xb, w.wv, n, dim, kvDim);
    if (prompt > 0) {
      att.set(causalAttention(model.geometry, q, k, v, prompt, 0));
      // caches may keep references to what they are given: hand them copies
      await cache.append(l, k.slice(0, prompt * kvDim), v.slice(0, prompt * kvDim), prompt);
    }
    for (let t = prompt; t < n; t++) {
      await cache.append(
        l,
        k.slice(t * kvDim, (t + 1) * kvDim),
        v.slice(t * kvDim, (t + 1) * kvDim),
        1,
      );
      att.set(await cache.attend(l, q.slice(t * dim, (t + 1) * dim), t), t * dim);
    }
    matmul(proj, att, w.wo, n, dim, dim);
    for (let i = 0; i < n * dim; i++) x[i] = (x[i] as number) + (proj[i] as number);
    rmsnorm(xb, x, w.ffnNorm, n, dim, normEps);
    matmul(gate, xb, w.w1, n, dim, hiddenDim);
    matmul(up, xb, w.w3, n, dim, hiddenDim);
    swiglu(gate, up, n * hiddenDim);
    matmul(proj, gate, w.w2, n, hiddenDim, dim);
    for (let i = 0; i < n * dim; i++) x[i] = (x[i] as number) + (proj[i] as number);
  }
  const rows = n - firstRow;
  const normed = new Float32Array(rows * dim);
  rmsnorm(normed, x.subarray(firstRow * dim), weights.finalNorm, rows, dim, normEps);
  const logits = new Float32Array(rows * vocabSize);
  matmul(logits, normed, weights.classifier, rows, dim, vocabSize);
  return logits;
}
