import { kvHidden, queryHidden, type SkvqError } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import {
  CACHE_FORMAT_VERSION,
  crc32,
  createDenseCache,
  createQuantizedCache,
  loadCache,
  type QuantizedCacheOptions,
  saveCache,
} from '../src/index.js';
import { syntheticCalibration } from './helpers/calibration.js';
import { oracleBackend, randomActivations } from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, METHODS, methodOptions } from './helpers/setup.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

function options(
  method: (typeof METHODS)[number],
  fpPrecision: 'fp32' | 'fp16' = 'fp32',
): QuantizedCacheOptions {
  return {
    geometry,
    backend: oracleBackend(),
    policy: () => fifoPolicy(8, 3),
    pageTokens: 32,
    fpPrecision,
    ...methodOptions(method),
  };
}

function codeOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    return (error as SkvqError).code;
  }
  return 'no error';
}

describe('saveCache / loadCache', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it.each(
    METHODS.flatMap(
      (m) =>
        [
          [m, 'fp32'],
          [m, 'fp16'],
        ] as const,
    ),
  )(
    '%s (%s fp tokens): load then attend gives identical output, and the cache keeps working',
    (method, fp) => {
      const cache = createQuantizedCache(options(method, fp));
      const n = 110;
      const k = randomActivations(n * CH, 1, CH);
      const v = randomActivations(n * CH, 2);
      const q = randomActivations(QH, 3);
      cache.append(0, k.subarray(0, 100 * CH), v.subarray(0, 100 * CH), 100);
      cache.append(1, k.subarray(0, 77 * CH), v.subarray(0, 77 * CH), 77);
      const file = saveCache(cache);
      const loaded = loadCache(file, options(method, fp));
      expect(loaded.length(0)).toBe(100);
      expect(loaded.length(1)).toBe(77);
      expect(loaded.bytes()).toEqual(cache.bytes());
      expect(loaded.describe().layers).toEqual(cache.describe().layers);
      expect(loaded.attend(0, q, 99)).toEqual(cache.attend(0, q, 99));
      expect(loaded.attend(1, q, 76)).toEqual(cache.attend(1, q, 76));
      for (const c of [cache, loaded]) {
        c.append(0, k.subarray(100 * CH), v.subarray(100 * CH), 10);
      }
      expect(loaded.attend(0, q, 109)).toEqual(cache.attend(0, q, 109));
      expect(saveCache(loaded)).toEqual(saveCache(cache));
    },
  );

  it('round-trips a dense cache', () => {
    const dense = createDenseCache({ geometry, precision: 'fp16', backend: oracleBackend() });
    dense.append(1, randomActivations(9 * CH, 4), randomActivations(9 * CH, 5), 9);
    const loaded = loadCache(saveCache(dense), {
      geometry,
      precision: 'fp16',
      backend: oracleBackend(),
    });
    const q = randomActivations(QH, 6);
    expect(loaded.attend(1, q, 8)).toEqual(dense.attend(1, q, 8));
  });

  describe('damaged or foreign files give typed errors', () => {
    const cache = createQuantizedCache(options('skvq'));
    cache.append(0, randomActivations(60 * CH, 7, CH), randomActivations(60 * CH, 8), 60);
    const file = saveCache(cache);

    it('truncated', () => {
      for (const cut of [1, 100, file.length - 30, file.length - 1]) {
        expect(codeOf(() => loadCache(file.subarray(0, cut), options('skvq')))).toBe(
          'FILE_TRUNCATED',
        );
      }
    });
    it('a flipped byte', () => {
      for (const at of [file.length - 200, file.length - 2, 40]) {
        const bad = file.slice();
        bad[at]! ^= 0x10;
        expect(codeOf(() => loadCache(bad, options('skvq')))).toBe('FILE_CORRUPTED');
      }
    });
    it('wrong magic', () => {
      const bad = file.slice();
      bad[0] = 0x50;
      expect(codeOf(() => loadCache(bad, options('skvq')))).toBe('FILE_BAD_MAGIC');
    });
    it('unknown version', () => {
      const bad = file.slice();
      new DataView(bad.buffer).setUint32(8, CACHE_FORMAT_VERSION + 1, true);
      expect(codeOf(() => loadCache(bad, options('skvq')))).toBe('FILE_UNSUPPORTED_VERSION');
    });
    it('another geometry, calibration, stream spec or policy', () => {
      const otherGeometry = { ...geometry, rope: { style: 'pairwise' as const, theta: 500000 } };
      const cases: Partial<QuantizedCacheOptions>[] = [
        {
          geometry: otherGeometry,
          calibration: syntheticCalibration(otherGeometry, { k: 2, v: 1.5 }, 16, 0.95, 7),
        },
        { calibration: syntheticCalibration(geometry, { k: 2, v: 1.5 }, 16, 0.95, 99) },
        { values: { ...methodOptions('skvq').values, meta: 'fp16' } },
        { policy: () => fifoPolicy(16, 3) },
        { fpPrecision: 'fp16' },
      ];
      for (const change of cases) {
        expect(codeOf(() => loadCache(file, { ...options('skvq'), ...change }))).toBe(
          'CACHE_MISMATCH',
        );
      }
      expect(codeOf(() => loadCache(file, options('rtn')))).toBe('CACHE_MISMATCH');
    });
  });
});
