import { applyRope, type KvGeometry, mulberry32 } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import {
  type AttentionSegment,
  attentionOutputError,
  causalAttention,
  ropeRows,
} from '../src/index.js';

const geometry: KvGeometry = {
  layers: 1,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 8,
  rope: { style: 'pairwise', theta: 10000 },
};

function segment(count: number, seed: number): AttentionSegment {
  const r = mulberry32(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  return {
    count,
    q: fill(count * 32),
    k: fill(count * 16),
    v: fill(count * 16),
    positions: Int32Array.from({ length: count }, (_, i) => i + 3),
  };
}

describe('attention objective', () => {
  it('first token attends only to itself; query heads use KV head floor(h / group)', () => {
    const s = segment(3, 1);
    const out = causalAttention(geometry, 3, s.q, s.k, s.v, s.positions);
    for (let h = 0; h < 4; h++) {
      const g = Math.floor(h / 2);
      for (let d = 0; d < 8; d++) expect(out[h * 8 + d]).toBeCloseTo(s.v[g * 8 + d]!, 6);
    }
  });

  it('matches a direct softmax for the last token', () => {
    const s = segment(5, 2);
    const qRot = ropeRows(geometry, s.q, 4, s.positions);
    const kRot = ropeRows(geometry, s.k, 2, s.positions);
    const out = causalAttention(geometry, 5, qRot, kRot, s.v, s.positions);
    const i = 4;
    for (let h = 0; h < 4; h++) {
      const g = h >> 1;
      const scores = [0, 1, 2, 3, 4].map((j) => {
        let dot = 0;
        for (let d = 0; d < 8; d++) dot += qRot[i * 32 + h * 8 + d]! * kRot[j * 16 + g * 8 + d]!;
        return Math.exp(dot / Math.sqrt(8));
      });
      const z = scores.reduce((a, b) => a + b, 0);
      for (let d = 0; d < 8; d++) {
        const expected = scores.reduce((acc, w, j) => acc + (w / z) * s.v[j * 16 + g * 8 + d]!, 0);
        expect(out[i * 32 + h * 8 + d]).toBeCloseTo(expected, 6);
      }
    }
  });

  it('ropeRows rotates each row at its position (core applyRope)', () => {
    const s = segment(2, 3);
    const rot = ropeRows(geometry, s.k, 2, s.positions);
    const manual = s.k.slice(16, 32);
    applyRope(manual, 0, 2, 8, geometry.rope, 4);
    expect([...rot.subarray(16, 32)]).toEqual([...manual]);
  });

  it('error is 0 for exact K/V and grows with the perturbation', () => {
    const s = segment(6, 4);
    expect(attentionOutputError(geometry, [s], null, null)).toBe(0);
    expect(attentionOutputError(geometry, [s], [s.k.slice()], [s.v.slice()])).toBe(0);
    const noisy = (eps: number) => s.v.map((x, i) => x + eps * Math.sin(i));
    const small = attentionOutputError(geometry, [s], null, [noisy(0.01)]);
    const large = attentionOutputError(geometry, [s], null, [noisy(0.1)]);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small);
    expect(() => attentionOutputError(geometry, [{ ...s, count: 7 }], null, null)).toThrow(
      /q has length 192; expected 224/,
    );
  });
});
