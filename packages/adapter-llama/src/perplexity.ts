import type { AttentionCache } from '@skvq/core';
import { fail } from './errors.js';
import type { LlamaModel } from './model.js';
import { logProb } from './sampling.js';
import { splitStories } from './stories.js';
import { teacherForcedLogits } from './teacher-forced.js';

/** The golden method truncates each story to the model's training context (512 tokens). */
export const DEFAULT_PERPLEXITY_CHUNK = 512;

/**
 * How the cache is exercised while a text is scored (SKVQ.md section 7):
 * - 'decode' (default): teacher-forced streaming, what generation experiences. The query at
 *   position t reads the cache state after tokens 0..t were appended one at a time: sinks
 *   and its own last W tokens at full precision, older tokens quantized.
 * - 'prefill': the whole text appended at once (in `chunkSize` pieces), every query reading
 *   the quantized cache; only the text's last W tokens and the sinks are full precision
 *   (the SKVQ paper's WikiText protocol).
 * - 'prompt': the first P tokens are prefilled with full-precision attention and stored
 *   quantized, the continuation is scored in decode protocol (LongBench-like; KIVI's and
 *   Hugging Face's setting). Only the continuation's tokens are scored.
 */
export type PerplexityProtocol = 'decode' | 'prefill' | 'prompt';
export const PERPLEXITY_PROTOCOLS: readonly PerplexityProtocol[] = ['decode', 'prefill', 'prompt'];

export interface PerplexityOptions {
  /** A fresh cache for each story (a quantized cache, a dense one...). */
  cache: () => AttentionCache;
  /** Default 'decode'. */
  protocol?: PerplexityProtocol;
  /**
   * `prompt` protocol: prompt tokens per story (BOS included), capped at n - 1 so that one
   * token is scored; default half the story (floor(n / 2), at least 1).
   */
  promptTokens?: number;
  /**
   * `decode` and `prompt`: 'layered' (default) runs the matmuls over the whole story and only
   * the cache calls token by token (teacherForcedLogits); 'token' calls model.forward once per
   * token, the reference definition. Both give the same logits (tested within 1e-5).
   */
  decodePath?: 'layered' | 'token';
  /** `prefill` only: tokens per forward call (default: the whole story at once). */
  chunkSize?: number;
  /** Evaluate only the first `maxStories` stories. */
  maxStories?: number;
  /** Tokens per story after BOS truncation (default: the model's context length). */
  maxTokens?: number;
  onProgress?: (progress: {
    stories: number;
    totalStories: number;
    tokens: number;
    meanNll: number;
  }) => void;
}

export interface PerplexityResult {
  /** Mean negative log-likelihood in nats per predicted token. */
  meanNll: number;
  ppl: number;
  /** Scored tokens (tokens 1..n-1 of every story; the continuation's in `prompt`). */
  tokens: number;
  stories: number;
  protocol: PerplexityProtocol;
}

/** Prompt length of a story of n tokens under the `prompt` protocol. */
export function promptLength(n: number, promptTokens: number | undefined): number {
  const p = promptTokens ?? Math.floor(n / 2);
  return Math.max(1, Math.min(p, n - 1));
}

function checkOptions(options: PerplexityOptions): PerplexityProtocol {
  const protocol = options.protocol ?? 'decode';
  if (!PERPLEXITY_PROTOCOLS.includes(protocol))
    fail(
      'INVALID_ARGUMENT',
      `protocol must be one of ${PERPLEXITY_PROTOCOLS.join(', ')}, got ${String(protocol)}`,
    );
  const chunk = options.chunkSize;
  if (chunk !== undefined) {
    if (!Number.isInteger(chunk) || chunk < 1)
      fail('INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunk}`);
    if (protocol !== 'prefill')
      fail(
        'INVALID_ARGUMENT',
        `chunkSize only applies to the prefill protocol (${protocol} appends one token at a time)`,
      );
  }
  const p = options.promptTokens;
  if (p !== undefined) {
    if (!Number.isInteger(p) || p < 1)
      fail('INVALID_ARGUMENT', `promptTokens must be a positive integer, got ${p}`);
    if (protocol !== 'prompt')
      fail('INVALID_ARGUMENT', `promptTokens only applies to the prompt protocol, not ${protocol}`);
  }
  const path = options.decodePath;
  if (path !== undefined && path !== 'layered' && path !== 'token')
    fail('INVALID_ARGUMENT', `decodePath must be 'layered' or 'token', got ${String(path)}`);
  return protocol;
}

/**
 * Logits of rows first .. n-2 of one story (the rows that predict a scored token) under a
 * protocol; rows are [n - 1 - first, vocab].
 */
async function storyLogits(
  model: LlamaModel,
  story: Int32Array,
  cache: AttentionCache,
  protocol: PerplexityProtocol,
  prompt: number,
  options: PerplexityOptions,
): Promise<Float32Array> {
  const n = story.length;
  // the last token is only a target: it never needs to run through the model
  const input = story.subarray(0, n - 1);
  const first = protocol === 'prompt' ? prompt - 1 : 0;
  if (protocol === 'prefill') {
    const chunk = options.chunkSize ?? input.length;
    const vocab = model.config.vocabSize;
    const out = new Float32Array(input.length * vocab);
    for (let s = 0; s < input.length; s += chunk) {
      const end = Math.min(input.length, s + chunk);
      out.set(await model.forward(input.subarray(s, end), cache, { logits: 'all' }), s * vocab);
    }
    return out;
  }
  const promptTokens = protocol === 'prompt' ? Math.min(prompt, input.length) : 0;
  if ((options.decodePath ?? 'layered') === 'layered')
    return teacherForcedLogits(model, input, cache, { promptTokens, firstLogitRow: first });
  // reference: one model.forward per token; a prompt goes through the cache in one call,
  // which must then attend it at full precision (prefillAttention 'original')
  const vocab = model.config.vocabSize;
  const out = new Float32Array((input.length - first) * vocab);
  let s = 0;
  if (promptTokens > 0) {
    const logits = await model.forward(input.subarray(0, promptTokens), cache, { logits: 'last' });
    out.set(logits, 0);
    s = promptTokens;
  }
  for (; s < input.length; s++) {
    const logits = await model.forward(input.subarray(s, s + 1), cache, { logits: 'last' });
    out.set(logits, (s - first) * vocab);
  }
  return out;
}

/**
 * Mean NLL and perplexity over stories: each story is encoded with BOS, truncated to the
 * context length, run through the model with every attention read going through a fresh
 * cache from `options.cache` under `options.protocol` (default 'decode'), and scored on
 * tokens 1..n-1 (on the continuation P..n-1 in the `prompt` protocol).
 * A string input is split with splitStories. With a dense cache every protocol gives the
 * same numbers (up to the prompt protocol scoring fewer tokens).
 */
export async function perplexity(
  model: LlamaModel,
  input: string | readonly string[] | readonly ArrayLike<number>[],
  options: PerplexityOptions,
): Promise<PerplexityResult> {
  const protocol = checkOptions(options);
  const tokenizer = model.tokenizer;
  let items: readonly (string | ArrayLike<number>)[] =
    typeof input === 'string' ? splitStories(input) : input;
  if (options.maxStories !== undefined) items = items.slice(0, options.maxStories);
  const maxTokens = options.maxTokens ?? model.config.contextLength;
  const vocab = model.config.vocabSize;
  let nll = 0;
  let count = 0;
  let stories = 0;
  for (const item of items) {
    let ids: ArrayLike<number>;
    if (typeof item === 'string') {
      if (!tokenizer)
        fail(
          'INVALID_ARGUMENT',
          'perplexity over text needs a tokenizer; load the model with one or pass token ids',
        );
      ids = tokenizer.encode(item);
    } else ids = item;
    const n = Math.min(ids.length, maxTokens);
    stories++;
    if (n < 2) continue;
    const story = Int32Array.from({ length: n }, (_, i) => ids[i] as number);
    const prompt = protocol === 'prompt' ? promptLength(n, options.promptTokens) : 0;
    const first = protocol === 'prompt' ? prompt - 1 : 0;
    const logits = await storyLogits(model, story, options.cache(), protocol, prompt, options);
    for (let t = first; t < n - 1; t++) {
      nll -= logProb(logits, (t - first) * vocab, vocab, story[t + 1] as number);
      count++;
    }
    options.onProgress?.({
      stories,
      totalStories: items.length,
      tokens: count,
      meanNll: nll / count,
    });
  }
  const meanNll = count > 0 ? nll / count : Number.NaN;
  return { meanNll, ppl: Math.exp(meanNll), tokens: count, stories, protocol };
}
