// The cache with the real @skvq/policy-sliding-window plugin and the real CPU kernels.
import { cpuBackend } from '@skvq/backend-cpu';
import { kvHidden, queryHidden } from '@skvq/core';
import { heavyHitterRule, slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { describe, expect, it } from 'vitest';
import {
  createQuantizedCache,
  loadCache,
  type QuantizedCacheOptions,
  saveCache,
} from '../src/index.js';
import { maxAbsDiff, randomActivations, referenceAttendOne } from './helpers/oracle.js';
import { geometry, METHODS, methodOptions } from './helpers/setup.js';
import { simulateCache } from './helpers/simulate.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);
/** float32 kernels against the float64 oracle over identical codes (see cpu-backend.test.ts). */
const KERNEL_TOLERANCE = 1e-4;

describe.each(METHODS)(
  '%s with slidingWindowPolicy (window 128 = KIVI residual, sinks 5)',
  (method) => {
    it('decode after prefill equals the reference; save/load round-trips', () => {
      const options: QuantizedCacheOptions = {
        geometry,
        fpPrecision: 'fp32', // the simulation models fp32 storage
        backend: cpuBackend,
        policy: slidingWindowPolicy,
        window: 128,
        sinks: 5,
        pageTokens: 64,
        ...methodOptions(method),
      };
      const cache = createQuantizedCache(options);
      const n = 260;
      const k = randomActivations(n * CH, 5, CH);
      const v = randomActivations(n * CH, 6);
      const q = randomActivations(QH, 7);
      cache.append(0, k.subarray(0, 200 * CH), v.subarray(0, 200 * CH), 200);
      for (let t = 200; t < n; t++)
        cache.append(0, k.slice(t * CH, (t + 1) * CH), v.slice(t * CH, (t + 1) * CH), 1);
      const layouts = cache.layouts(0);
      const sim = simulateCache(geometry, k, v, n, {
        window: 128,
        sinks: 5,
        keysPreRope: cache.keysPreRope,
        layouts,
      });
      const got = cache.attend(0, q, n - 1) as Float32Array;
      expect(
        maxAbsDiff(
          got,
          referenceAttendOne(geometry, cache.keysPreRope, q, 0, n - 1, sim.keys, sim.values),
        ),
      ).toBeLessThan(KERNEL_TOLERANCE);
      const d = cache.describeLayer(0);
      expect(d).toMatchObject({ tokens: n, sinks: 5, window: 128 });
      expect(d.quantized.v).toBe(n - 128 - 5);
      const loaded = loadCache(saveCache(cache), options);
      expect(loaded.attend(0, q, n - 1)).toEqual(got);
      // The restored policy continues FIFO: both caches stay identical after more tokens.
      const extraK = randomActivations(CH, 8, CH);
      const extraV = randomActivations(CH, 9);
      cache.append(0, extraK, extraV, 1);
      loaded.append(0, extraK, extraV, 1);
      expect(loaded.attend(0, q, n)).toEqual(cache.attend(0, q, n));
    });
  },
);

describe('heavy-hitter rule through the cache', () => {
  it('attention sums reach the rule and its kept tokens stay full precision', () => {
    const rules = [heavyHitterRule({ quantile: 0.5 })];
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend: cpuBackend,
      policy: slidingWindowPolicy,
      window: 4,
      sinks: 1,
      rules: (layer) => (layer === 1 ? rules : []),
      ...methodOptions('rtn'),
    });
    const k = randomActivations(40 * CH, 10, CH);
    const v = randomActivations(40 * CH, 11);
    const q = randomActivations(40 * QH, 12);
    for (let t = 0; t < 40; t++) {
      cache.append(1, k.slice(t * CH, (t + 1) * CH), v.slice(t * CH, (t + 1) * CH), 1);
      cache.attend(1, q.slice(t * QH, (t + 1) * QH), t);
    }
    expect(rules[0]!.seen).toBe(40);
    const d = cache.describeLayer(1);
    expect(d.kept).toBeGreaterThan(0);
    expect(d.sinks + d.kept + d.quantized.v + d.window).toBe(40);
  });
});
