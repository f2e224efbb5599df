import type { AttentionCache } from '@skvq/core';
import { mulberry32 } from '@skvq/core';
import { fail } from './errors.js';
import type { LlamaModel } from './model.js';
import { sampleToken } from './sampling.js';

/** Prompt tokens run through the model per forward call (chunked prefill). */
export const DEFAULT_PREFILL_CHUNK = 128;

export interface GeneratedToken {
  id: number;
  /** Text this token adds (UTF-8 bytes decoded as they complete; '' without a tokenizer). */
  text: string;
  /** 0 for the first generated token. */
  index: number;
}

export interface GenerateOptions {
  /** Text to continue (needs model.tokenizer; BOS is added); or give `ids`. */
  prompt?: string;
  /** Token ids to continue (include BOS yourself). Default: [BOS]. */
  ids?: ArrayLike<number>;
  maxTokens: number;
  /** 0 = greedy (default). */
  temperature?: number;
  /** Nucleus mass (default 1: off). */
  topP?: number;
  seed?: number;
  /** Where attention reads K/V: dense, quantized, ... (positions continue from its length). */
  cache: AttentionCache;
  /** Stop after an EOS token (default true). */
  stopAtEos?: boolean;
  prefillChunk?: number;
  onToken?: (token: GeneratedToken) => void;
  onProgress?: (progress: { stage: 'prefill' | 'decode'; done: number; total: number }) => void;
}

export interface GenerateResult {
  /** Prompt ids followed by the generated ids. */
  ids: Int32Array;
  generated: Int32Array;
  text: string;
  promptTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** Generated tokens per second of decoding. */
  tokensPerSecond: number;
}

function promptIds(model: LlamaModel, options: GenerateOptions): Int32Array {
  if (options.ids) return Int32Array.from(options.ids);
  if (options.prompt !== undefined) {
    if (!model.tokenizer)
      fail(
        'INVALID_ARGUMENT',
        'generate with a text prompt needs a tokenizer; load the model with one or pass ids',
      );
    return model.tokenizer.encode(options.prompt);
  }
  const bos = model.tokenizer?.bosId ?? 1;
  return Int32Array.of(bos);
}

/**
 * Streams a continuation token by token: prefill of the prompt in chunks, then one decode
 * step per token, every attention read through `options.cache`.
 */
export async function* generateStream(
  model: LlamaModel,
  options: GenerateOptions,
  stats?: { prefillMs: number; decodeMs: number; promptTokens: number },
): AsyncGenerator<GeneratedToken> {
  const { maxTokens, cache } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 0)
    fail('INVALID_ARGUMENT', `maxTokens must be an integer >= 0, got ${maxTokens}`);
  const chunk = options.prefillChunk ?? DEFAULT_PREFILL_CHUNK;
  if (!Number.isInteger(chunk) || chunk < 1)
    fail('INVALID_ARGUMENT', `prefillChunk must be a positive integer, got ${chunk}`);
  const ids = promptIds(model, options);
  if (ids.length === 0)
    fail('INVALID_ARGUMENT', 'the prompt is empty: give at least one token (BOS)');
  const rng = mulberry32(options.seed ?? 0);
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 1;
  const eos = model.tokenizer?.eosId ?? 2;
  const stopAtEos = options.stopAtEos ?? true;
  const decoder = new TextDecoder();
  const t0 = performance.now();
  let logits: Float32Array = new Float32Array(0);
  for (let s = 0; s < ids.length; s += chunk) {
    const part = ids.subarray(s, Math.min(ids.length, s + chunk));
    logits = await model.forward(part, cache);
    options.onProgress?.({ stage: 'prefill', done: s + part.length, total: ids.length });
  }
  const t1 = performance.now();
  if (stats) {
    stats.prefillMs = t1 - t0;
    stats.promptTokens = ids.length;
  }
  let prev = ids[ids.length - 1] as number;
  for (let index = 0; index < maxTokens; index++) {
    const id = sampleToken(logits, temperature, topP, rng);
    const text = model.tokenizer
      ? decoder.decode(model.tokenizer.decodeTokenBytes(prev, id), { stream: true })
      : '';
    const token = { id, text, index };
    options.onToken?.(token);
    options.onProgress?.({ stage: 'decode', done: index + 1, total: maxTokens });
    yield token;
    prev = id;
    if (stopAtEos && id === eos) break;
    if (index + 1 < maxTokens) logits = await model.forward([id], cache);
    if (stats) stats.decodeMs = performance.now() - t1;
  }
}

/** Generates a continuation; see generateStream for the streaming form. */
export async function generate(
  model: LlamaModel,
  options: GenerateOptions,
): Promise<GenerateResult> {
  const stats = { prefillMs: 0, decodeMs: 0, promptTokens: 0 };
  const generated: number[] = [];
  let text = '';
  for await (const token of generateStream(model, options, stats)) {
    generated.push(token.id);
    text += token.text;
  }
  const prompt = promptIds(model, options);
  const all = new Int32Array(prompt.length + generated.length);
  all.set(prompt);
  all.set(generated, prompt.length);
  return {
    ids: all,
    generated: Int32Array.from(generated),
    text,
    promptTokens: stats.promptTokens,
    prefillMs: stats.prefillMs,
    decodeMs: stats.decodeMs,
    tokensPerSecond: stats.decodeMs > 0 ? (generated.length / stats.decodeMs) * 1000 : Number.NaN,
  };
}
