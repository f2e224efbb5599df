import type { BackendPlugin } from '@skvq/core';
import { kvHidden, LLAMA2_7B_LAYER, queryHidden } from '@skvq/core';
import { cpuMs } from './clock.js';
import { CHUNK, fill, randomTokens, skvqCache, TokenPool } from './setup.js';

/** SKVQ.md section 5: about 1.9 average bits or below lets 1M tokens of Llama-2-7B fit in 80 GB. */
export const TARGET_BITS = 1.9;

export interface MemoryResult {
  cache: ReturnType<typeof skvqCache>;
  tokens: number;
  bytes: ReturnType<ReturnType<typeof skvqCache>['bytes']>;
  fp16Bytes: number;
  fp32Bytes: number;
  fillSeconds: number;
  prefillTokensPerSecond: number;
  /** CPU seconds of the decode step (and wall seconds beside it). */
  decodeSeconds: number;
  decodeWallSeconds: number;
}

/** Fills a real one-layer SKVQ cache with `tokens` tokens and runs one decode step over it. */
export function memoryBench(
  backend: BackendPlugin,
  tokens: number,
  log: (s: string) => void,
): MemoryResult {
  const geometry = LLAMA2_7B_LAYER;
  const ch = kvHidden(geometry);
  const cache = skvqCache(backend);
  const pool = TokenPool.get(ch);
  const fillSeconds = fill(cache, pool, tokens, (done) => {
    if (done % (64 * CHUNK) === 0) log(`  filled ${done} tokens`);
  });
  const bytes = cache.bytes();
  const q = randomTokens(1, queryHidden(geometry), 7);
  const t0 = cpuMs();
  const w0 = performance.now();
  cache.attend(0, q, tokens - 1);
  const decodeSeconds = (cpuMs() - t0) / 1000;
  const decodeWallSeconds = (performance.now() - w0) / 1000;
  const elements = tokens * 2 * ch;
  return {
    cache,
    tokens,
    bytes,
    fp16Bytes: elements * 2,
    fp32Bytes: elements * 4,
    fillSeconds,
    prefillTokensPerSecond: tokens / fillSeconds,
    decodeSeconds,
    decodeWallSeconds,
  };
}
