import { cpuBackend } from '@skvq/backend-cpu';
import { type KvSegment, kvHidden, queryHidden } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { createQuantizedCache, type QuantizedCache } from '../src/index.js';
import { randomActivations } from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, METHODS, methodOptions } from './helpers/setup.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

/** What a segment holds (the rows of fp segments; codes and metadata of packed ones). */
function contents(segments: readonly KvSegment[]) {
  return segments.map((s) => ({
    kind: s.kind,
    count: s.count,
    positions: Array.from(s.positions),
    data:
      s.kind === 'fp'
        ? Array.from(s.data.subarray(0, s.count * CH))
        : s.kind === 'packed'
          ? [Array.from(s.codes), Array.from(s.meta)]
          : s,
  }));
}

function expectSameState(a: QuantizedCache, b: QuantizedCache, layer: number) {
  const sa = a.segments(layer);
  const sb = b.segments(layer);
  expect(contents(sb.keys)).toEqual(contents(sa.keys));
  expect(contents(sb.values)).toEqual(contents(sa.values));
}

/**
 * 'original' prefill attention changes what attendPrefill reads over the last chunk and
 * nothing else: fed the same rows, a cache in 'original' mode and one in 'quantized' mode
 * hold the same state after a multi-token prompt (window ring wrapped, pages growing) and
 * every later single-token append, and decode attention over them is bit-identical. (A
 * model-level comparison of the two modes also differs in how the prompt was attended,
 * and 2-bit codes with fp16/fp8 metadata amplify that float rounding; this pins the cache.)
 */
describe('prefillAttention modes hold the same state', () => {
  it.each(METHODS)('%s', (method) => {
    const make = (mode: 'quantized' | 'original') =>
      createQuantizedCache({
        geometry,
        fpPrecision: 'fp32',
        backend: cpuBackend,
        policy: () => fifoPolicy(8, 3),
        pageTokens: 32,
        prefillAttention: mode,
        ...methodOptions(method),
      });
    const quantized = make('quantized');
    const original = make('original');
    const prompt = 25;
    const total = 70;
    const k = randomActivations(total * CH, 41, CH);
    const v = randomActivations(total * CH, 42);
    const q = randomActivations(total * QH, 43);
    for (const cache of [quantized, original]) {
      cache.append(0, k.subarray(0, prompt * CH), v.subarray(0, prompt * CH), prompt);
    }
    // the 'original' cache's prompt read, as model.forward does it
    original.attendPrefill(0, q.slice(0, prompt * QH), 0, prompt);
    expectSameState(quantized, original, 0);
    for (let t = prompt; t < total; t++) {
      for (const cache of [quantized, original]) {
        cache.append(0, k.slice(t * CH, (t + 1) * CH), v.slice(t * CH, (t + 1) * CH), 1);
      }
      expectSameState(quantized, original, 0);
      const qt = q.slice(t * QH, (t + 1) * QH);
      const a = quantized.attend(0, qt, t) as Float32Array;
      const b = original.attend(0, qt.slice(), t) as Float32Array;
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    expect(original.describeLayer(0)).toEqual(quantized.describeLayer(0));
  });
});
