import type { QuantizedCache } from '@skvq/cache';
import { kvHidden } from '@skvq/core';
import { cpuMs } from './clock.js';
import { randomTokens } from './setup.js';

export interface AppendResult {
  decodeTokensPerSecond: number;
  decodeAppends: number;
  /** Tokens the cache held before the single-token appends. */
  startTokens: number;
}

/**
 * Single-token decode appends on a filled SKVQ cache: each one enters the window and pushes
 * the oldest window token out to be quantized (prefill-chunk throughput is measured by the
 * fill of the memory benchmark).
 */
export function decodeAppendBench(cache: QuantizedCache, appends: number): AppendResult {
  const ch = kvHidden(cache.geometry);
  const startTokens = cache.length(0);
  const k = randomTokens(appends, ch, 31);
  const v = randomTokens(appends, ch, 32);
  const t0 = cpuMs();
  for (let i = 0; i < appends; i++) {
    cache.append(0, k.subarray(i * ch, (i + 1) * ch), v.subarray(i * ch, (i + 1) * ch), 1);
  }
  const seconds = (cpuMs() - t0) / 1000;
  return { decodeTokensPerSecond: appends / seconds, decodeAppends: appends, startTokens };
}
