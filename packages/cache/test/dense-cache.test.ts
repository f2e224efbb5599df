import { type KvGeometry, kvHidden, queryHidden, SkvqError } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { createDenseCache } from '../src/index.js';
import { exactAttend, maxAbsDiff, oracleBackend, randomActivations } from './helpers/oracle.js';

const geometry: KvGeometry = {
  layers: 2,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 8,
  rope: { style: 'pairwise', theta: 10000 },
};
const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

/** fp32 storage + float64 oracle: only float32 rounding of the result remains. */
const FP32_TOLERANCE = 1e-5;
/** fp16 storage: relative rounding 2^-11 of each K/V element. */
const FP16_TOLERANCE = 5e-3;

describe('createDenseCache', () => {
  it.each([
    ['fp32', true, FP32_TOLERANCE],
    ['fp32', false, FP32_TOLERANCE],
    ['fp16', true, FP16_TOLERANCE],
  ] as const)('%s keysPreRope=%s attends like exact attention', (precision, keysPreRope, tol) => {
    const cache = createDenseCache({
      geometry,
      precision,
      backend: oracleBackend(),
      keysPreRope,
      pageTokens: 4,
    });
    const n = 11; // crosses two page boundaries
    const k = randomActivations(n * CH, 1, CH);
    const v = randomActivations(n * CH, 2);
    const q = randomActivations(n * QH, 3);
    cache.append(1, k.subarray(0, 6 * CH), v.subarray(0, 6 * CH), 6);
    for (let t = 6; t < n; t++)
      cache.append(1, k.slice(t * CH, (t + 1) * CH), v.slice(t * CH, (t + 1) * CH), 1);
    expect(cache.length(1)).toBe(n);
    expect(cache.length(0)).toBe(0);
    const got = cache.attend(1, q.slice((n - 1) * QH), n - 1) as Float32Array;
    expect(maxAbsDiff(got, exactAttend(geometry, q, (n - 1) * QH, n - 1, k, v, n))).toBeLessThan(
      tol,
    );
    const pre = cache.attendPrefill(1, q.slice(3 * QH, 7 * QH), 3, 4) as Float32Array;
    for (let i = 0; i < 4; i++) {
      const exact = exactAttend(geometry, q, (3 + i) * QH, 3 + i, k, v, n);
      expect(maxAbsDiff(pre.subarray(i * QH, (i + 1) * QH), exact)).toBeLessThan(tol);
    }
  });

  it('accounts bytes: fp16 halves fp32, slack is the unused page end', () => {
    const b32 = createDenseCache({
      geometry,
      precision: 'fp32',
      backend: oracleBackend(),
      pageTokens: 8,
    });
    const b16 = createDenseCache({
      geometry,
      precision: 'fp16',
      backend: oracleBackend(),
      pageTokens: 8,
    });
    for (const c of [b32, b16])
      c.append(0, randomActivations(5 * CH, 4), randomActivations(5 * CH, 5), 5);
    const x = b32.bytes();
    expect(x.keptFp).toBe(5 * CH * 4 * 2); // values; positions are implicit
    // one shared identity of positions: 5 in use (positions), the rest of its 64 is slack
    expect(x.metadata).toBe(0);
    expect(x.positions).toBe(5 * 4);
    expect(x.pageSlack).toBe(3 * CH * 4 * 2 + (64 - 5) * 4);
    expect(x.elements).toBe(5 * 2 * CH);
    expect(x.bitsPerElement).toBeCloseTo((8 * x.total) / x.elements);
    expect(b16.bytes().keptFp).toBe(5 * CH * 2 * 2);
    expect(b32.describe().layers[0]!.tokens).toBe(5);
    b32.reset();
    expect(b32.length(0)).toBe(0);
    expect(Number.isNaN(b32.bytes().bitsPerElement)).toBe(true);
  });

  it('rejects bad input with typed errors and leaves the cache unchanged', () => {
    const cache = createDenseCache({ geometry, precision: 'fp32', backend: oracleBackend() });
    cache.append(0, randomActivations(2 * CH, 6), randomActivations(2 * CH, 7), 2);
    const before = JSON.stringify(cache.bytes());
    const bad = randomActivations(CH, 8);
    bad[3] = Number.NaN;
    const cases: [() => unknown, string][] = [
      [
        () => cache.append(0, new Float32Array(CH + 1), new Float32Array(CH + 1), 1),
        'SHAPE_MISMATCH',
      ],
      [() => cache.append(0, bad, new Float32Array(CH), 1), 'NON_FINITE_INPUT'],
      [() => cache.append(2, new Float32Array(CH), new Float32Array(CH), 1), 'INVALID_ARGUMENT'],
      [() => cache.append(0, new Float32Array(0), new Float32Array(0), 0), 'INVALID_ARGUMENT'],
      [() => cache.attend(0, new Float32Array(QH - 1), 1), 'SHAPE_MISMATCH'],
      [() => cache.attend(0, new Float32Array(QH), 0), 'INVALID_ARGUMENT'],
      [() => cache.attendPrefill(0, new Float32Array(2 * QH), 1, 2), 'INVALID_ARGUMENT'],
    ];
    for (const [call, code] of cases) {
      expect(call).toThrow(SkvqError);
      try {
        call();
      } catch (error) {
        expect((error as SkvqError).code).toBe(code);
      }
      expect(cache.length(0)).toBe(2);
      expect(JSON.stringify(cache.bytes())).toBe(before);
    }
  });

  it('names the missing kernel of a backend', () => {
    expect(() =>
      createDenseCache({
        geometry,
        precision: 'fp32',
        backend: { kind: 'backend', name: 'empty', priority: 0, kernels: {} },
      }),
    ).toThrow(/does not implement kernel "attend"/);
    expect(() =>
      createDenseCache({ geometry, precision: 'bf16' as 'fp32', backend: oracleBackend() }),
    ).toThrow(/precision is bf16; expected fp32, fp16/);
  });
});
