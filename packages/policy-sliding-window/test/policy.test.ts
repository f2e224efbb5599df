import { isSkvqError, type PolicyDecision, type TokenPolicy } from '@skvq/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSlidingWindowPolicy, heavyHitterRule, slidingWindowPolicy } from '../src/index.js';

/** Appends `chunks` in order and records every decision with the length after the call. */
function run(policy: TokenPolicy, chunks: readonly number[]) {
  const out: { length: number; decision: PolicyDecision }[] = [];
  let length = 0;
  for (const count of chunks) {
    const decision = policy.admit(length, count);
    length += count;
    out.push({ length, decision });
  }
  return out;
}

function union(decisions: readonly { decision: PolicyDecision }[]) {
  const quantize: number[] = [];
  const keep: number[] = [];
  for (const { decision } of decisions) {
    quantize.push(...decision.quantize);
    keep.push(...decision.keep);
  }
  return { quantize, keep };
}

const windowArb = fc.integer({ min: 0, max: 12 });
const sinksArb = fc.integer({ min: 0, max: 8 });
const chunksArb = fc.array(fc.integer({ min: 0, max: 10 }), { maxLength: 20 });

describe('sliding-window policy', () => {
  it('is a policy plugin named sliding-window', () => {
    expect(slidingWindowPolicy.kind).toBe('policy');
    expect(slidingWindowPolicy.name).toBe('sliding-window');
    const p = slidingWindowPolicy.create({ window: 3, sinks: 1 });
    expect([p.window, p.sinks]).toEqual([3, 1]);
  });

  it('admits every position exactly once, in order, only after it leaves the window', () => {
    fc.assert(
      fc.property(windowArb, sinksArb, chunksArb, (window, sinks, chunks) => {
        const results = run(createSlidingWindowPolicy({ window, sinks }), chunks);
        let next = 0;
        for (const { length, decision } of results) {
          const merged = [...decision.quantize, ...decision.keep].sort((a, b) => a - b);
          // Exactly the positions that left the window with this call, nothing earlier/later.
          const expected: number[] = [];
          for (let p = next; p < Math.max(length - window, next); p++) expected.push(p);
          expect(merged).toEqual(expected);
          next += merged.length;
          for (const part of [decision.quantize, decision.keep]) {
            for (let i = 1; i < part.length; i++) expect(part[i]).toBeGreaterThan(part[i - 1]!);
          }
          // Sinks are never quantized; everything else is (no extra rules here).
          for (const p of decision.quantize) expect(p).toBeGreaterThanOrEqual(sinks);
          for (const p of decision.keep) expect(p).toBeLessThan(sinks);
        }
        const total = chunks.reduce((a, b) => a + b, 0);
        expect(next).toBe(Math.max(total - window, 0));
      }),
    );
  });

  it('a prefill equals appending the same tokens one by one', () => {
    fc.assert(
      fc.property(windowArb, sinksArb, fc.integer({ min: 0, max: 40 }), (window, sinks, n) => {
        const once = union(run(createSlidingWindowPolicy({ window, sinks }), [n]));
        const single = union(
          run(
            createSlidingWindowPolicy({ window, sinks }),
            Array.from({ length: n }, () => 1),
          ),
        );
        expect(once).toEqual(single);
      }),
    );
  });

  it('edges: window 0 and sinks 0 quantize every token at once; W >= n keeps all in the window', () => {
    const p = createSlidingWindowPolicy({ window: 0, sinks: 0 });
    const d = p.admit(0, 4);
    expect([...d.quantize]).toEqual([0, 1, 2, 3]);
    expect(d.keep.length).toBe(0);
    expect([...p.admit(4, 1).quantize]).toEqual([4]);

    const big = createSlidingWindowPolicy({ window: 10, sinks: 2 });
    const none = big.admit(0, 10);
    expect(none.quantize.length + none.keep.length).toBe(0);
    const first = big.admit(10, 1);
    expect([...first.keep]).toEqual([0]);
    expect(first.quantize.length).toBe(0);

    const oneOne = createSlidingWindowPolicy({ window: 1, sinks: 1 });
    const r = union(run(oneOne, [3, 1]));
    expect(r).toEqual({ quantize: [1, 2], keep: [0] });
  });

  it('reset forgets the appended tokens', () => {
    const p = createSlidingWindowPolicy({ window: 2, sinks: 0 });
    p.admit(0, 5);
    p.reset();
    expect([...p.admit(0, 3).quantize]).toEqual([0]);
  });

  it('rejects bad options and out-of-order admits with typed errors', () => {
    for (const bad of [-1, 1.5, Number.NaN, '3']) {
      expect(() => createSlidingWindowPolicy({ window: bad as number, sinks: 0 })).toThrow(
        /window is .*; expected a non-negative integer/,
      );
      expect(() => createSlidingWindowPolicy({ window: 0, sinks: bad as number })).toThrow(/sinks/);
    }
    const p = createSlidingWindowPolicy({ window: 2, sinks: 1 });
    p.admit(0, 2);
    try {
      p.admit(3, 1);
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toContain(
        'must equal the number of tokens appended so far (2)',
      );
    }
  });
});

describe('heavyHitterRule', () => {
  it('keeps tokens in the top quantile of accumulated attention when they leave the window', () => {
    const n = 20;
    const rule = heavyHitterRule({ quantile: 0.9 });
    const policy = createSlidingWindowPolicy({ window: 4, sinks: 1, rules: [rule] });
    // Positions 7 and 13 receive most attention; everything else a little.
    const sums = new Float32Array(n).fill(0.01);
    sums[7] = 3;
    sums[13] = 2;
    const kept: number[] = [];
    const quantized: number[] = [];
    for (let t = 0; t < n; t++) {
      const d = policy.admit(t, 1);
      kept.push(...d.keep);
      quantized.push(...d.quantize);
      policy.observeAttention?.(sums, t + 1);
    }
    expect(kept).toContain(0); // sink
    expect(kept).toContain(7);
    expect(kept).toContain(13);
    expect(kept.length).toBe(3);
    expect(quantized.length).toBe(n - 4 - 3);
  });

  it('matches its documented definition on random masses', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 30 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (masses, quantile) => {
          const rule = heavyHitterRule({ quantile });
          const sums = Float32Array.from(masses);
          rule.observeAttention?.(sums, sums.length);
          rule.observeAttention?.(sums, sums.length); // accumulates
          const budget = Math.ceil((1 - quantile) * sums.length);
          let keptCount = 0;
          for (let p = 0; p < sums.length; p++) {
            const own = rule.mass(p);
            expect(own).toBeCloseTo(2 * sums[p]!, 5);
            const larger = [...sums].filter((_, i) => rule.mass(i) > own).length;
            const expected = own > 0 && larger < budget;
            expect(rule.keeps(p)).toBe(expected);
            if (expected) keptCount++;
          }
          // Without ties the kept set is at most the budget.
          if (new Set(masses).size === masses.length) expect(keptCount).toBeLessThanOrEqual(budget);
        },
      ),
    );
  });

  it('keeps nothing it never saw, resets, and validates', () => {
    const rule = heavyHitterRule({ quantile: 0.5 });
    expect(rule.keeps(0)).toBe(false);
    rule.observeAttention?.(Float32Array.of(1, 0, 2), 3);
    expect(rule.keeps(2)).toBe(true);
    expect(rule.keeps(1)).toBe(false);
    rule.reset?.();
    expect(rule.seen).toBe(0);
    expect(rule.keeps(2)).toBe(false);
    expect(() => heavyHitterRule({ quantile: 1 })).toThrow(/expected a number in \[0, 1\)/);
    expect(() => rule.observeAttention?.(Float32Array.of(1), 2)).toThrow(/length 2/);
    expect(() => rule.observeAttention?.(Float32Array.of(Number.NaN), 1)).toThrow(/sums\[0\]/);
  });
});
