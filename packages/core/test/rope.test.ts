import { describe, expect, it } from 'vitest';
import { applyRope } from '../src/index.js';

describe('rope', () => {
  it('rotates pairwise pairs and inverts exactly', () => {
    const v = Float64Array.from([1, 0, 0, 1]);
    applyRope(v, 0, 1, 4, { style: 'pairwise', theta: 10000 }, 1);
    expect(v[0]).toBeCloseTo(Math.cos(1), 12);
    expect(v[1]).toBeCloseTo(Math.sin(1), 12);
    applyRope(v, 0, 1, 4, { style: 'pairwise', theta: 10000 }, 1, undefined, -1);
    expect(Array.from(v).map((x) => Math.round(x * 1e9) / 1e9)).toEqual([1, 0, 0, 1]);
  });

  it('keeps the dot product a function of the distance (q.R(m)k depends on n - m)', () => {
    const rope = { style: 'half' as const, theta: 100 };
    const q = Float64Array.from([0.3, -1, 2, 0.5]);
    const k = Float64Array.from([1.5, 0.2, -0.7, 1]);
    const dot = (m: number, n: number) => {
      const a = q.slice();
      const b = k.slice();
      applyRope(a, 0, 1, 4, rope, m);
      applyRope(b, 0, 1, 4, rope, n);
      return a.reduce((s, x, i) => s + x * (b[i] as number), 0);
    };
    expect(dot(10, 3)).toBeCloseTo(dot(17, 10), 10);
  });
});
