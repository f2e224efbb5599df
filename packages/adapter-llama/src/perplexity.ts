import type { AttentionCache } from '@skvq/core';
import { fail } from './errors.js';
import type { LlamaModel } from './model.js';
import { logProb } from './sampling.js';
import { splitStories } from './stories.js';

/** The golden method truncates each story to the model's training context (512 tokens). */
export const DEFAULT_PERPLEXITY_CHUNK = 512;

export interface PerplexityOptions {
  /** A fresh cache for each story (a quantized cache, a dense one...). */
  cache: () => AttentionCache;
  /** Tokens per forward call (default: the whole story at once). */
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
  /** Predicted tokens (tokens 1..n-1 of every story). */
  tokens: number;
  stories: number;
}

/**
 * Mean NLL and perplexity over stories (the golden method): each story is encoded with BOS,
 * truncated to the context length, run through the model with every attention read going
 * through a fresh cache from `options.cache`, and scored on tokens 1..n-1.
 * A string input is split with splitStories.
 */
export async function perplexity(
  model: LlamaModel,
  input: string | readonly string[] | readonly ArrayLike<number>[],
  options: PerplexityOptions,
): Promise<PerplexityResult> {
  const tokenizer = model.tokenizer;
  let items: readonly (string | ArrayLike<number>)[] =
    typeof input === 'string' ? splitStories(input) : input;
  if (options.maxStories !== undefined) items = items.slice(0, options.maxStories);
  const maxTokens = options.maxTokens ?? model.config.contextLength;
  const chunk = options.chunkSize ?? maxTokens;
  if (!Number.isInteger(chunk) || chunk < 1)
    fail('INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunk}`);
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
    const cache = options.cache();
    for (let s = 0; s < n - 1; s += chunk) {
      // the last token is only a target: it never needs to run through the model
      const end = Math.min(n - 1, s + chunk);
      const logits = await model.forward(story.subarray(s, end), cache, { logits: 'all' });
      for (let t = s; t < end; t++) {
        nll -= logProb(logits, (t - s) * vocab, vocab, story[t + 1] as number);
        count++;
      }
    }
    options.onProgress?.({
      stories,
      totalStories: items.length,
      tokens: count,
      meanNll: nll / count,
    });
  }
  const meanNll = count > 0 ? nll / count : Number.NaN;
  return { meanNll, ppl: Math.exp(meanNll), tokens: count, stories };
}
