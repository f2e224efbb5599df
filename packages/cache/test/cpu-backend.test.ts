// The cache over the real CPU kernels: its attention must
// equal "dequantize with the scalar references, then attend in float64" (the simulation).
import { cpuBackend, cpuReferenceBackend } from '@skvq/backend-cpu';
import { kvHidden, queryHidden } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { createDenseCache, createQuantizedCache } from '../src/index.js';
import { syntheticCalibration } from './helpers/calibration.js';
import {
  maxAbsDiff,
  randomActivations,
  referenceAttendOne,
  relativeError,
} from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, METHODS, methodOptions } from './helpers/setup.js';
import { simulateCache } from './helpers/simulate.js';
import { loadStoriesLayer0, storiesGolden } from './helpers/stories.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);
/**
 * float32 kernels against the float64 oracle over identical codes: the outputs are O(1)
 * averages of values, so float32 accumulation over ~100 tokens stays far below 1e-4.
 */
const KERNEL_TOLERANCE = 1e-4;

describe.each([
  ['cpuBackend', cpuBackend],
  ['cpuReferenceBackend', cpuReferenceBackend],
] as const)('%s with a FIFO policy', (_name, backend) => {
  it.each(METHODS)('%s: decode and prefill equal the reference', (method) => {
    const window = 16;
    const sinks = 5;
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend,
      policy: () => fifoPolicy(window, sinks),
      pageTokens: 32,
      ...methodOptions(method),
    });
    const n = 120;
    const k = randomActivations(n * CH, 1, CH);
    const v = randomActivations(n * CH, 2);
    const q = randomActivations(n * QH, 3);
    cache.append(0, k.subarray(0, 80 * CH), v.subarray(0, 80 * CH), 80);
    const pre = cache.attendPrefill(0, q.subarray(0, 80 * QH), 0, 80) as Float32Array;
    for (let t = 80; t < n; t++)
      cache.append(0, k.slice(t * CH, (t + 1) * CH), v.slice(t * CH, (t + 1) * CH), 1);
    const layouts = cache.layouts(0);
    const simPre = simulateCache(geometry, k, v, 80, {
      window,
      sinks,
      keysPreRope: cache.keysPreRope,
      layouts,
    });
    for (const i of [0, 40, 79]) {
      const want = referenceAttendOne(
        geometry,
        cache.keysPreRope,
        q,
        i * QH,
        i,
        simPre.keys,
        simPre.values,
      );
      expect(maxAbsDiff(pre.subarray(i * QH, (i + 1) * QH), want)).toBeLessThan(KERNEL_TOLERANCE);
    }
    const sim = simulateCache(geometry, k, v, n, {
      window,
      sinks,
      keysPreRope: cache.keysPreRope,
      layouts,
    });
    const got = cache.attend(0, q.slice((n - 1) * QH), n - 1) as Float32Array;
    const want = referenceAttendOne(
      geometry,
      cache.keysPreRope,
      q,
      (n - 1) * QH,
      n - 1,
      sim.keys,
      sim.values,
    );
    expect(maxAbsDiff(got, want)).toBeLessThan(KERNEL_TOLERANCE);
  });

  it('real stories260K K/V: SKVQ K2 V1.5 and dense fp16 against the reference', () => {
    const model = loadStoriesLayer0();
    const g = model.geometry;
    const ids = storiesGolden().ids;
    const n = ids.length;
    const { k, v, q } = model.project(ids);
    const qh = queryHidden(g);
    const skvq = methodOptions('skvq');
    const calibration = syntheticCalibration(g, { k: 2, v: 1.5 }, 8, 0.95, 5);
    const cache = createQuantizedCache({
      geometry: g,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend,
      policy: () => fifoPolicy(8, 5),
      ...skvq,
      keys: { ...skvq.keys, groupSize: 8 },
      values: { ...skvq.values, groupSize: 8 },
      calibration,
    });
    cache.append(0, k, v, n);
    const layouts = cache.layouts(0);
    const sim = simulateCache(g, k, v, n, { window: 8, sinks: 5, keysPreRope: true, layouts });
    const got = cache.attend(0, q.slice((n - 1) * qh), n - 1) as Float32Array;
    const want = referenceAttendOne(g, true, q, (n - 1) * qh, n - 1, sim.keys, sim.values);
    expect(maxAbsDiff(got, want)).toBeLessThan(KERNEL_TOLERANCE);
    const dense = createDenseCache({ geometry: g, precision: 'fp16', backend });
    dense.append(0, k, v, n);
    const exact = referenceAttendOne(
      g,
      true,
      q,
      (n - 1) * qh,
      n - 1,
      [{ data: Float64Array.from(k), positions: Int32Array.from({ length: n }, (_, i) => i) }],
      [{ data: Float64Array.from(v), positions: Int32Array.from({ length: n }, (_, i) => i) }],
    );
    /** fp16 storage: relative rounding 2^-11 per element. */
    expect(
      relativeError(dense.attend(0, q.slice((n - 1) * qh), n - 1) as Float32Array, exact),
    ).toBeLessThan(5e-3);
  });
});
