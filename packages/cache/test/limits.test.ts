import { cpuBackend, cpuReferenceBackend } from '@skvq/backend-cpu';
import { isSkvqError, kvHidden, queryHidden } from '@skvq/core';
import { ropeTable } from '@skvq/formats';
import { describe, expect, it } from 'vitest';
import { createDenseCache, createQuantizedCache } from '../src/index.js';
import { FP16_MAX, MAX_POSITION, maxWindow } from '../src/limits.js';
import { randomActivations } from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, methodOptions } from './helpers/setup.js';

/** Issue 13 item 5 / defect 6: bounded attend positions, window, pageTokens, fp16 range. */

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (error) {
    return isSkvqError(error) ? error.code : `untyped ${String(error)}`;
  }
}

function quantized(window = 4, pageTokens?: number) {
  return createQuantizedCache({
    geometry,
    backend: cpuBackend,
    policy: () => fifoPolicy(window, 2),
    ...(pageTokens === undefined ? {} : { pageTokens }),
    ...methodOptions('skvq'),
  });
}

describe('attend positions are int32 (defect 6)', () => {
  it('positions past 2^31 - 1 are INVALID_ARGUMENT on dense and quantized caches', () => {
    const dense = createDenseCache({ geometry, precision: 'fp32', backend: cpuBackend });
    const q8 = quantized();
    const q = randomActivations(QH, 1);
    for (const cache of [dense, q8]) {
      cache.append(0, randomActivations(3 * CH, 2), randomActivations(3 * CH, 3), 3);
      for (const position of [2 ** 31, 2 ** 53, Number.MAX_VALUE]) {
        expect(codeOf(() => cache.attend(0, q, position))).toBe('INVALID_ARGUMENT');
      }
      expect(cache.length(0)).toBe(3);
    }
  });

  it('the largest position attends like the reference without growing the RoPE table', async () => {
    const fast = createDenseCache({ geometry, precision: 'fp32', backend: cpuBackend });
    const ref = createDenseCache({ geometry, precision: 'fp32', backend: cpuReferenceBackend });
    const k = randomActivations(3 * CH, 4);
    const v = randomActivations(3 * CH, 5);
    fast.append(0, k, v, 3);
    ref.append(0, k, v, 3);
    const q = randomActivations(QH, 6);
    const a = await fast.attend(0, q, MAX_POSITION);
    const b = await ref.attend(0, q, MAX_POSITION);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i] as number, 4);
    // the cached table covers the keys held, not the query's position
    expect(ropeTable(geometry.headDim, geometry.rope, 1).positions).toBeLessThanOrEqual(1 << 16);
  });
});

describe('window and pageTokens limits (defect 6)', () => {
  it('a window that would grow to gigabytes is INVALID_ARGUMENT at creation', () => {
    expect(codeOf(() => quantized(10_000_000))).toBe('INVALID_ARGUMENT');
    // the quantized cache stores its window in fp16 by default
    expect(codeOf(() => quantized(maxWindow(CH, 'fp16') + 1))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => quantized(maxWindow(CH, 'fp16')))).toBe('ok');
    expect(codeOf(() => quantized(1024))).toBe('ok');
  });

  it('pageTokens of 10^9 is INVALID_ARGUMENT at creation (dense and quantized)', () => {
    expect(codeOf(() => quantized(4, 1e9))).toBe('INVALID_ARGUMENT');
    expect(
      codeOf(() =>
        createDenseCache({ geometry, precision: 'fp32', backend: cpuBackend, pageTokens: 1e9 }),
      ),
    ).toBe('INVALID_ARGUMENT');
  });
});

describe('the dense fp16 cache refuses values it would store as Infinity (defect 6)', () => {
  for (const keysPreRope of [true, false]) {
    it(`keysPreRope ${keysPreRope}: +-3.4e38 refused, nothing stored; 65504 kept finite`, async () => {
      const cache = createDenseCache({
        geometry,
        precision: 'fp16',
        backend: cpuBackend,
        keysPreRope,
      });
      const ok = randomActivations(CH, 7);
      cache.append(0, ok, ok, 1);
      const huge = ok.slice();
      huge[3] = 3.4e38;
      expect(codeOf(() => cache.append(0, huge, ok, 1))).toBe('INVALID_ARGUMENT');
      huge[3] = -70000;
      expect(codeOf(() => cache.append(0, ok, huge, 1))).toBe('INVALID_ARGUMENT');
      expect(cache.length(0)).toBe(1);
      const edge = new Float32Array(CH).fill(keysPreRope ? FP16_MAX : 1000);
      edge[0] = -FP16_MAX;
      const vEdge = new Float32Array(CH).fill(FP16_MAX);
      cache.append(0, edge, vEdge, 1);
      const out = await cache.attend(0, randomActivations(QH, 8), 1);
      expect(out.every(Number.isFinite)).toBe(true);
    });
  }
});
