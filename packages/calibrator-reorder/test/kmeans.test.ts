import { isSkvqError, mulberry32 } from '@skvq/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupChannels, kmeans2d } from '../src/index.js';

function randomPoints(n: number, seed: number): Float64Array {
  const r = mulberry32(seed);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    // A few blobs plus outliers, like per-channel (min, max) points.
    const blob = i % 5;
    out[2 * i] = -blob * 3 - r() * 2 - (i % 17 === 0 ? 40 : 0);
    out[2 * i + 1] = blob * 2 + r() * 2 + (i % 23 === 0 ? 30 : 0);
  }
  return out;
}

describe('mulberry32', () => {
  it('is reproducible and matches the published reference values', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    // First outputs of mulberry32(0), from the reference C implementation: 0x6D2B79F5 step.
    const z = mulberry32(0);
    expect(Math.round(z() * 4294967296)).toBe(1144304738);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('kmeans2d', () => {
  it('is deterministic for a seed: same assignments and the same permutation twice', () => {
    const points = randomPoints(128, 3);
    const a = kmeans2d(points, 8, { seed: 11, restarts: 4 });
    const b = kmeans2d(points, 8, { seed: 11, restarts: 4 });
    expect([...a.assignments]).toEqual([...b.assignments]);
    expect(a.objective).toBe(b.objective);
    const min = new Float32Array(128);
    const max = new Float32Array(128);
    for (let c = 0; c < 128; c++) {
      min[c] = points[2 * c]!;
      max[c] = points[2 * c + 1]!;
    }
    const pa = groupChannels(min, max, a, 'cluster', 16);
    const pb = groupChannels(min, max, b, 'cluster', 16);
    expect([...pa.perm]).toEqual([...pb.perm]);
    expect([...pa.groupOffsets]).toEqual([...pb.groupOffsets]);
  });

  it('never increases the objective across Lloyd iterations, and reports it exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 1000 }),
        (n, kRaw, seed) => {
          const k = Math.min(kRaw, n);
          const points = randomPoints(n, seed);
          const r = kmeans2d(points, k, { seed, restarts: 2 });
          for (let i = 1; i < r.objectives.length; i++) {
            expect(r.objectives[i]!).toBeLessThanOrEqual(r.objectives[i - 1]!);
          }
          expect(r.objectives[r.objectives.length - 1]).toBe(r.objective);
          // The reported objective is the sum of squared distances to the assigned centroids.
          let sum = 0;
          for (let i = 0; i < n; i++) {
            const c = r.assignments[i]!;
            sum +=
              (points[2 * i]! - r.centroids[2 * c]!) ** 2 +
              (points[2 * i + 1]! - r.centroids[2 * c + 1]!) ** 2;
          }
          expect(sum).toBeCloseTo(r.objective, 6);
          expect(r.sizes.reduce((a, b) => a + b, 0)).toBe(n);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('more restarts never give a worse objective (best restart kept)', () => {
    const points = randomPoints(100, 9);
    const one = kmeans2d(points, 6, { seed: 5, restarts: 1 });
    const many = kmeans2d(points, 6, { seed: 5, restarts: 8 });
    expect(many.objective).toBeLessThanOrEqual(one.objective);
  });

  it('separates well-separated blobs exactly', () => {
    const pts: number[] = [];
    for (const [cx, cy] of [
      [0, 0],
      [100, 0],
      [0, 100],
    ]) {
      for (let i = 0; i < 5; i++) pts.push(cx! + i * 0.1, cy! - i * 0.1);
    }
    const r = kmeans2d(Float64Array.from(pts), 3, { seed: 1 });
    for (let b = 0; b < 3; b++) {
      const first = r.assignments[5 * b];
      for (let i = 0; i < 5; i++) expect(r.assignments[5 * b + i]).toBe(first);
    }
    expect(new Set(r.assignments).size).toBe(3);
  });

  it('handles duplicate points deterministically (empty clusters stay empty)', () => {
    const points = new Float64Array(20).fill(1); // 10 identical points
    points[18] = 5;
    points[19] = 5; // and one different
    const a = kmeans2d(points, 4, { seed: 2 });
    const b = kmeans2d(points, 4, { seed: 2 });
    expect([...a.assignments]).toEqual([...b.assignments]);
    expect(a.objective).toBe(0);
    expect([...a.sizes].filter((s) => s > 0).length).toBe(2);
    const min = new Float32Array(10).fill(1);
    const max = new Float32Array(10).fill(1);
    min[9] = 5;
    max[9] = 5;
    const groups = groupChannels(min, max, a, 'cluster', 5);
    expect([...groups.groupOffsets]).toEqual([0, 9, 10]);
  });

  it('validates its inputs with typed errors', () => {
    expect(() => kmeans2d(new Float64Array(3), 1)).toThrow(/not \[n, 2\]/);
    expect(() => kmeans2d(new Float64Array(4), 3)).toThrow(/k 3 exceeds the number of points 2/);
    expect(() => kmeans2d(new Float64Array(4), 0)).toThrow(/k is 0/);
    try {
      kmeans2d(Float64Array.of(0, Number.NaN), 1);
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'NON_FINITE_INPUT')).toBe(true);
    }
  });
});
