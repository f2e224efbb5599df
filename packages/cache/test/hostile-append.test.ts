import { cpuBackend } from '@skvq/backend-cpu';
import { kvHidden, queryHidden, type SkvqError } from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { describe, expect, it } from 'vitest';
import { createQuantizedCache, type QuantizedCacheOptions } from '../src/index.js';
import { randomActivations } from './helpers/oracle.js';
import { geometry, METHODS, methodOptions } from './helpers/setup.js';

/**
 * Issue 13 defect 2: a finite outlier the metadata format cannot hold (fp8 E4M3 <= 448,
 * fp16 <= 65504) used to be accepted and break the cache for good when it left the window
 * (append threw half-way, then every attend and append failed). Now such a token is kept
 * at full precision; values the fp16 window cannot hold are refused up front.
 */

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

function options(
  method: (typeof METHODS)[number],
  extra: Partial<QuantizedCacheOptions> = {},
): QuantizedCacheOptions {
  const base = methodOptions(method);
  return {
    geometry,
    backend: cpuBackend,
    policy: slidingWindowPolicy,
    window: 16,
    sinks: 2,
    pageTokens: 32,
    ...base,
    ...extra,
  };
}

/** One token whose key (or value) alternates +-magnitude over its channels. */
function outlierRow(magnitude: number): Float32Array {
  return Float32Array.from({ length: CH }, (_, i) => (i % 2 === 0 ? magnitude : -magnitude));
}

function codeOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    return (error as SkvqError).code ?? 'untyped';
  }
  return 'none';
}

describe.each(METHODS)('outlier tokens in a %s cache', (method) => {
  const cases: [string, number, Partial<QuantizedCacheOptions>][] = [
    ['fp8 metadata, +-1000 (fp16 window)', 1000, {}],
    ['fp8 metadata, +-30000 (fp16 window)', 30000, {}],
    ['fp8 metadata, +-1e30 (fp32 window)', 1e30, { fpPrecision: 'fp32' }],
  ];
  it.each(cases)('%s: later appends and attends never fail', (_, magnitude, extra) => {
    const cache = createQuantizedCache(options(method, extra));
    const q = randomActivations(QH, 5);
    for (const layer of [0, 1]) {
      cache.append(layer, randomActivations(10 * CH, 1), randomActivations(10 * CH, 2), 10);
      const big = outlierRow(magnitude);
      const k = layer === 0 ? big : randomActivations(CH, 3);
      const v = layer === 0 ? randomActivations(CH, 4) : big;
      cache.append(layer, k, v, 1);
      // one token at a time until the outlier (position 10) is far past the window
      for (let t = 11; t < 60; t++) {
        cache.append(layer, randomActivations(CH, 10 + t), randomActivations(CH, 100 + t), 1);
        expect(cache.length(layer)).toBe(t + 1);
        const out = cache.attend(layer, q, t) as Float32Array;
        if (magnitude < 1e20) expect(out.every(Number.isFinite)).toBe(true);
      }
      // the outlier was kept at full precision when it left the window
      expect(cache.describeLayer(layer).kept).toBeGreaterThanOrEqual(1);
      // and a prefill-sized append after it still works
      cache.append(layer, randomActivations(20 * CH, 7), randomActivations(20 * CH, 8), 20);
      expect(cache.length(layer)).toBe(80);
    }
  });

  it('fp16 metadata with +-70000 in an fp32 window: kept, no later failure', () => {
    const base = methodOptions(method);
    const cache = createQuantizedCache(
      options(method, {
        fpPrecision: 'fp32',
        keys: { ...base.keys, meta: 'fp16' },
        values: { ...base.values, meta: 'fp16' },
      }),
    );
    cache.append(0, randomActivations(10 * CH, 1), randomActivations(10 * CH, 2), 10);
    cache.append(0, outlierRow(70000), randomActivations(CH, 4), 1);
    for (let t = 11; t < 40; t++) {
      cache.append(0, randomActivations(CH, t), randomActivations(CH, 50 + t), 1);
      expect(
        (cache.attend(0, randomActivations(QH, 5), t) as Float32Array).every(Number.isFinite),
      ).toBe(true);
    }
  });

  it('the fp16 window refuses |x| >= 65520 up front and stores nothing', () => {
    const cache = createQuantizedCache(options(method));
    cache.append(0, randomActivations(20 * CH, 1), randomActivations(20 * CH, 2), 20);
    const before = JSON.stringify(cache.describe());
    for (const [k, v] of [
      [outlierRow(70000), randomActivations(CH, 3)],
      [randomActivations(CH, 3), outlierRow(1e30)],
    ] as const) {
      expect(codeOf(() => cache.append(0, k, v, 1))).toBe('INVALID_ARGUMENT');
      expect(JSON.stringify(cache.describe())).toBe(before);
    }
    // inside fp16 (also after RoPE, which may grow a pair by sqrt 2): stored, then kept at
    // full precision when it leaves the window (fp8 metadata cannot hold it)
    cache.append(0, outlierRow(40000), randomActivations(CH, 3), 1);
    for (let t = 21; t < 40; t++) {
      cache.append(0, randomActivations(CH, t), randomActivations(CH, 50 + t), 1);
    }
    expect(cache.length(0)).toBe(40);
    expect(
      (cache.attend(0, randomActivations(QH, 5), 39) as Float32Array).every(Number.isFinite),
    ).toBe(true);
  });
});
