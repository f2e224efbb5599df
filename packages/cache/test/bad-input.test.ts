import { kvHidden, queryHidden, type SkvqError } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { createQuantizedCache, loadCache, saveCache } from '../src/index.js';
import { oracleBackend, randomActivations } from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, METHODS, methodOptions } from './helpers/setup.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

describe.each(METHODS)('bad input to a %s cache', (method) => {
  it('throws typed errors and leaves length, bytes and attention unchanged', () => {
    const opts = {
      geometry,
      backend: oracleBackend(),
      policy: () => fifoPolicy(4, 2),
      pageTokens: 32,
      ...methodOptions(method),
    };
    const cache = createQuantizedCache(opts);
    cache.append(0, randomActivations(50 * CH, 1, CH), randomActivations(50 * CH, 2), 50);
    const q = randomActivations(QH, 3);
    const before = {
      bytes: JSON.stringify(cache.bytes()),
      out: cache.attend(0, q, 49),
      file: saveCache(cache),
    };
    const nan = randomActivations(CH, 4);
    nan[5] = Number.NaN;
    const inf = randomActivations(CH, 5);
    inf[0] = Number.POSITIVE_INFINITY;
    const ok = randomActivations(CH, 6);
    const cases: [string, () => unknown][] = [
      [
        'SHAPE_MISMATCH',
        () => cache.append(0, new Float32Array(CH - 1), new Float32Array(CH - 1), 1),
      ],
      ['SHAPE_MISMATCH', () => cache.append(0, ok, new Float32Array(2 * CH), 1)],
      ['NON_FINITE_INPUT', () => cache.append(0, nan, ok, 1)],
      ['NON_FINITE_INPUT', () => cache.append(0, ok, inf, 1)],
      ['INVALID_ARGUMENT', () => cache.append(-1, ok, ok, 1)],
      ['INVALID_ARGUMENT', () => cache.append(0, ok, ok, 1.5)],
      ['SHAPE_MISMATCH', () => cache.attend(0, new Float32Array(QH + 1), 49)],
      ['NON_FINITE_INPUT', () => cache.attend(0, new Float32Array(QH).fill(Number.NaN), 49)],
      ['INVALID_ARGUMENT', () => cache.attend(0, q, 10)],
      ['INVALID_ARGUMENT', () => cache.attend(1, q, 0)],
      ['INVALID_ARGUMENT', () => cache.attendPrefill(0, new Float32Array(2 * QH), 49, 2)],
      ['SHAPE_MISMATCH', () => cache.attendPrefill(0, new Float32Array(QH), 40, 2)],
    ];
    for (const [code, call] of cases) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect((thrown as SkvqError)?.code, code).toBe(code);
      expect(cache.length(0)).toBe(50);
      expect(cache.length(1)).toBe(0);
      expect(JSON.stringify(cache.bytes())).toBe(before.bytes);
    }
    expect(cache.attend(0, q, 49)).toEqual(before.out);
    expect(saveCache(cache)).toEqual(before.file);
    const corrupted = before.file.slice();
    corrupted[corrupted.length - 100]! ^= 1;
    expect(() => loadCache(corrupted, opts)).toThrow(/checksum/);
    expect(cache.length(0)).toBe(50);
  });

  it('rejects bad options with the allowed values', () => {
    const base = {
      geometry,
      backend: oracleBackend(),
      policy: () => fifoPolicy(4, 2),
      ...methodOptions(method),
    };
    expect(() => createQuantizedCache({ ...base, fpPrecision: 'bf16' as 'fp32' })).toThrow(
      /expected fp32, fp16/,
    );
    expect(() => createQuantizedCache({ ...base, prefillAttention: 'raw' as 'original' })).toThrow(
      /expected quantized, original/,
    );
    expect(() => createQuantizedCache({ ...base, pageTokens: 0 })).toThrow(/pageTokens/);
    if (method.startsWith('kivi')) {
      expect(() => createQuantizedCache({ ...base, pageTokens: 48 })).toThrow(
        /multiple of the k stream's block of 32/,
      );
    }
    expect(() =>
      createQuantizedCache({
        ...base,
        backend: { kind: 'backend', name: 'none', priority: 0, kernels: {} },
      }),
    ).toThrow(/does not implement kernel/);
  });
});
