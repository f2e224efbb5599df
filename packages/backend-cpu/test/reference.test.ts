import { type AttentionAttrs, applyRope, type KvSegment, kvHidden } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { attendDecodeFast, attendPrefillFast } from '../src/fast-attention.js';
import { attendDecodeReference, attendPrefillReference } from '../src/reference-attention.js';
import { geometry, normals, relErr, rng, segments, tokenGroupLayout } from './helpers.js';

const fp32 = (data: Float32Array, positions: number[]): KvSegment => ({
  kind: 'fp',
  precision: 'fp32',
  count: positions.length,
  data,
  positions: Int32Array.from(positions),
});

describe('reference attention: hand-checkable properties', () => {
  it('softmax of two scores: ln 3 and 0 weigh the values 3/4 and 1/4', () => {
    const g = geometry(1, 1, 2, 'none');
    const keys = [fp32(new Float32Array([1, 0, 0, 1]), [0, 1])];
    const values = [fp32(new Float32Array([4, 8, 0, -4]), [0, 1])];
    const q = new Float32Array([Math.log(3), 0]);
    const sums = new Float32Array(2);
    const out = attendDecodeReference(
      { q, position: 1, keys, values, length: 2, attentionSums: sums },
      {
        geometry: g,
        keysPreRope: true,
        scale: 1,
      },
    );
    expect(out[0]).toBeCloseTo(0.75 * 4 + 0.25 * 0, 6);
    expect(out[1]).toBeCloseTo(0.75 * 8 + 0.25 * -4, 6);
    expect(sums[0]).toBeCloseTo(0.75, 6);
    expect(sums[1]).toBeCloseTo(0.25, 6);
  });

  it('a single cached token returns its value for every query head (GQA)', () => {
    const g = geometry(4, 2, 8);
    const r = rng(3);
    const k = normals(r, kvHidden(g));
    const v = normals(r, kvHidden(g));
    const out = attendDecodeReference(
      { q: normals(r, 32), position: 0, keys: [fp32(k, [0])], values: [fp32(v, [0])], length: 1 },
      { geometry: g, keysPreRope: true },
    );
    for (let h = 0; h < 4; h++) {
      const kv = Math.floor(h / 2);
      for (let d = 0; d < 8; d++) expect(out[h * 8 + d]).toBeCloseTo(v[kv * 8 + d] as number, 6);
    }
  });

  for (const style of ['pairwise', 'half'] as const) {
    it(`${style}: pre-RoPE keys rotated in the kernel equal keys rotated before storing`, () => {
      const g = geometry(2, 2, 8, style);
      const r = rng(4);
      const length = 6;
      const channels = kvHidden(g);
      const k = normals(r, length * channels);
      const rotated = k.slice();
      for (let p = 0; p < length; p++) applyRope(rotated, p * channels, 2, 8, g.rope, p);
      const positions = [0, 1, 2, 3, 4, 5];
      const v = normals(r, length * channels);
      const q = normals(r, 16);
      for (const attend of [attendDecodeReference, attendDecodeFast]) {
        const pre = attend(
          { q, position: 5, keys: [fp32(k, positions)], values: [fp32(v, positions)], length },
          {
            geometry: g,
            keysPreRope: true,
          },
        );
        const post = attend(
          {
            q,
            position: 5,
            keys: [fp32(rotated, positions)],
            values: [fp32(v, positions)],
            length,
          },
          {
            geometry: g,
            keysPreRope: false,
          },
        );
        expect(relErr(pre, post)).toBeLessThan(1e-6);
      }
    });
  }

  it('GQA with one KV head equals MHA with that head repeated', () => {
    const r = rng(5);
    const length = 5;
    const k = normals(r, length * 8);
    const v = normals(r, length * 8);
    const dup = (x: Float32Array) => {
      const out = new Float32Array(length * 16);
      for (let t = 0; t < length; t++) {
        out.set(x.subarray(t * 8, t * 8 + 8), t * 16);
        out.set(x.subarray(t * 8, t * 8 + 8), t * 16 + 8);
      }
      return out;
    };
    const positions = [0, 1, 2, 3, 4];
    const q = normals(r, 16);
    const gqa = attendDecodeReference(
      { q, position: 4, keys: [fp32(k, positions)], values: [fp32(v, positions)], length },
      {
        geometry: geometry(2, 1, 8),
        keysPreRope: true,
      },
    );
    const mha = attendDecodeReference(
      {
        q,
        position: 4,
        keys: [fp32(dup(k), positions)],
        values: [fp32(dup(v), positions)],
        length,
      },
      { geometry: geometry(2, 2, 8), keysPreRope: true },
    );
    expect(relErr(gqa, mha)).toBeLessThan(1e-6);
  });

  it('prefill is causal: the first query row sees only position 0', () => {
    const g = geometry(2, 2, 8);
    const r = rng(6);
    const channels = kvHidden(g);
    const v = normals(r, 4 * channels);
    const positions = [0, 1, 2, 3];
    for (const attend of [attendPrefillReference, attendPrefillFast]) {
      const out = attend(
        {
          q: normals(r, 4 * 16),
          start: 0,
          count: 4,
          keys: [fp32(normals(r, 4 * channels), positions)],
          values: [fp32(v, positions)],
          length: 4,
        },
        { geometry: g, keysPreRope: true },
      );
      for (let c = 0; c < 16; c++) expect(out[c]).toBeCloseTo(v[c] as number, 6);
    }
  });
});

describe('attention input validation (reference and fast alike)', () => {
  const g = geometry(2, 2, 8);
  const channels = kvHidden(g);
  const r = rng(7);
  const k = normals(r, 10 * channels);
  const v = normals(r, 10 * channels);
  const layout = tokenGroupLayout(r, channels, 2, 'fp16', 3);
  const keys = segments(k, g, [
    { kind: 'fp32', count: 2 },
    { kind: 'packed', count: 6, layout },
    { kind: 'fp16', count: 2 },
  ]);
  const values = segments(v, g, [{ kind: 'fp32', count: 10 }]);
  const attrs: AttentionAttrs = { geometry: g, keysPreRope: true };
  const good = { q: normals(r, 16), position: 9, keys, values, length: 10 };
  const cases: [string, Record<string, unknown>, AttentionAttrs, string][] = [
    ['a query of the wrong length', { q: new Float32Array(15) }, attrs, 'SHAPE_MISMATCH'],
    ['keys that miss positions', { keys: keys.slice(0, 2) }, attrs, 'INVALID_ARGUMENT'],
    [
      'values that repeat a position',
      { values: [...values, values[0]] },
      attrs,
      'INVALID_ARGUMENT',
    ],
    ['a position outside the cache', { length: 9 }, attrs, 'INVALID_ARGUMENT'],
    ['a negative position', { position: -1 }, attrs, 'INVALID_ARGUMENT'],
    ['a too-short attentionSums', { attentionSums: new Float32Array(3) }, attrs, 'SHAPE_MISMATCH'],
    [
      'queryHeads not a multiple of kvHeads',
      {},
      { geometry: geometry(3, 2, 8), keysPreRope: true },
      'INVALID_GEOMETRY',
    ],
    [
      'fp data shorter than count x channels',
      { keys: segments(normals(r, 10 * 8), geometry(1, 1, 8), [{ kind: 'fp32', count: 10 }]) },
      attrs,
      'SHAPE_MISMATCH',
    ],
    [
      'a packed layout of the wrong width',
      {
        keys: segments(normals(r, 10 * 8), geometry(1, 1, 8), [
          { kind: 'packed', count: 10, layout: tokenGroupLayout(r, 8, 2, 'fp16', 2) },
        ]),
      },
      attrs,
      'SHAPE_MISMATCH',
    ],
  ];
  for (const [what, patch, a, code] of cases) {
    it(`${what} is ${code}`, () => {
      for (const attend of [attendDecodeReference, attendDecodeFast]) {
        expect(() => attend({ ...good, ...patch } as typeof good, a)).toThrow(
          expect.objectContaining({ code }),
        );
      }
    });
  }

  it('prefill rows past the cache are INVALID_ARGUMENT', () => {
    for (const attend of [attendPrefillReference, attendPrefillFast]) {
      expect(() =>
        attend({ q: normals(r, 32), start: 9, count: 2, keys, values, length: 10 }, attrs),
      ).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
