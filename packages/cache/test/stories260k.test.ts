import { kiviQuantizer, rtnQuantizer } from '@skvq/baselines';
import { kvHidden, queryHidden } from '@skvq/core';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import { describe, expect, it } from 'vitest';
import { createQuantizedCache, type StreamSpec } from '../src/index.js';
import { syntheticCalibration } from './helpers/calibration.js';
import {
  exactAttend,
  maxAbsDiff,
  oracleBackend,
  referenceAttendOne,
  relativeError,
} from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { simulateCache } from './helpers/simulate.js';
import { loadStoriesLayer0, storiesGolden } from './helpers/stories.js';

const model = loadStoriesLayer0();
const { geometry } = model;
const CH = kvHidden(geometry);
const QH = queryHidden(geometry);
const golden = storiesGolden();
/** The golden story ids, then the same ids again: 130 real tokens. */
const ids = [...golden.ids, ...golden.ids];
const n = ids.length;
const { k, v, q } = model.project(ids);
/** The golden K/V are printed with 6 decimals. */
const GOLDEN_DIGITS_TOLERANCE = 2e-6;
/** 8-bit codes with fp8 scales: attention output within 1%. */
const EIGHT_BIT_TOLERANCE = 0.01;

/** Group of 8 channels = one head of stories260K (kvHidden 32). */
const G = 8;
const calibration = syntheticCalibration(geometry, { k: 2, v: 1.5 }, G, 0.95, 3);
const spec = (quantizer: StreamSpec['quantizer'], bits: StreamSpec['bits']): StreamSpec => ({
  quantizer,
  bits,
  meta: 'fp8e4m3',
  groupSize: G,
});
const combos = {
  'skvq K2 V1.5': {
    keys: spec(groupClipQuantizer, 2),
    values: spec(groupClipQuantizer, 1.5),
    calibration,
  },
  'rtn K2 V2': { keys: spec(rtnQuantizer, 2), values: spec(rtnQuantizer, 2) },
  'kivi K2 V2': { keys: spec(kiviQuantizer, 2), values: spec(kiviQuantizer, 2) },
  'kivi K2 + skvq V1.5': {
    keys: spec(kiviQuantizer, 2),
    values: spec(groupClipQuantizer, 1.5),
    calibration,
  },
  'rtn K8 V8': { keys: spec(rtnQuantizer, 8), values: spec(rtnQuantizer, 8) },
};

describe('real stories260K layer-0 K/V', () => {
  it('the loader reproduces the golden layer-0 K/V at position 0', () => {
    expect(maxAbsDiff(k.subarray(0, CH), golden.k0)).toBeLessThan(GOLDEN_DIGITS_TOLERANCE * 10);
    expect(maxAbsDiff(v.subarray(0, CH), golden.v0)).toBeLessThan(GOLDEN_DIGITS_TOLERANCE * 10);
  });

  it.each(Object.entries(combos))(
    '%s: cache attention = reference dequantize + float64 attend',
    (_name, combo) => {
      const window = 16;
      const sinks = 5;
      const cache = createQuantizedCache({
        geometry,
        fpPrecision: 'fp32', // the simulation models fp32 storage
        backend: oracleBackend(),
        policy: () => fifoPolicy(window, sinks),
        pageTokens: 32,
        ...combo,
      });
      cache.append(0, k.subarray(0, 64 * CH), v.subarray(0, 64 * CH), 64);
      for (let t = 64; t < n; t++)
        cache.append(0, k.slice(t * CH, (t + 1) * CH), v.slice(t * CH, (t + 1) * CH), 1);
      const layouts = cache.layouts(0);
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
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
      // Quantization error against exact attention: tiny at 8 bits, clearly larger at 2 bits
      // (random calibration, 130 tokens: a plumbing check, not a quality figure).
      const err = relativeError(got, exactAttend(geometry, q, (n - 1) * QH, n - 1, k, v, n));
      expect(Number.isFinite(err)).toBe(true);
      if (_name === 'rtn K8 V8') expect(err).toBeLessThan(EIGHT_BIT_TOLERANCE);
      else expect(err).toBeGreaterThan(EIGHT_BIT_TOLERANCE);
    },
  );
});
