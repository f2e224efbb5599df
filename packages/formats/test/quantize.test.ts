import {
  type BitWidth,
  groupCount,
  isSkvqError,
  META_BYTES,
  type MetaFormat,
  maxQ,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
  type TokenGroupLayout,
} from '@skvq/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dequantizeTokenReference,
  dequantizeTokensReference,
  dequantizeValue,
  quantizeTokenReference,
  quantizeTokensReference,
  readMeta,
  SCALE_FLOOR,
  unpackCodes,
} from '../src/index.js';
import { pageFor, randomPerm, randomTokens, tokenLayout } from './helpers.js';

/** Relative float32 slack of a few roundings (2^-23 is one float32 ulp at 1). */
const F32_SLACK = 8 * 2 ** -23;

interface GroupView {
  scale: number;
  zero: number;
  lo: number;
  hi: number;
  positions: number[];
}

/** Reads back the stored scale/zero of every group and the clip range the spec gives it. */
function groupsOf(layout: TokenGroupLayout, x: Float32Array, meta: Uint8Array): GroupView[] {
  const size = META_BYTES[layout.meta];
  const a = Math.fround(layout.alpha);
  const out: GroupView[] = [];
  for (let g = 0; g < groupCount(layout); g++) {
    const positions: number[] = [];
    for (let j = layout.groupOffsets[g]!; j < layout.groupOffsets[g + 1]!; j++) {
      positions.push(layout.perm === null ? j : layout.perm[j]!);
    }
    const vals = positions.map((c) => x[c]!);
    out.push({
      scale: readMeta(layout.meta, meta, 2 * g * size),
      zero: readMeta(layout.meta, meta, (2 * g + 1) * size),
      lo: Math.fround(a * Math.min(...vals)),
      hi: Math.fround(a * Math.max(...vals)),
      positions,
    });
  }
  return out;
}

/** Checks the promised error bounds of one quantized token. */
function checkBounds(layout: TokenGroupLayout, x: Float32Array) {
  const { codes, meta } = pageFor(layout, 1);
  quantizeTokenReference(layout, x, 0, codes, 0, meta, 0);
  const xHat = new Float32Array(layout.channels);
  dequantizeTokenReference(layout, codes, 0, meta, 0, xHat, 0);
  const maxq = maxQ(layout.bits);
  for (const g of groupsOf(layout, x, meta)) {
    expect(g.scale).toBeGreaterThanOrEqual(SCALE_FLOOR);
    // The stored grid covers the clipped range [lo, hi].
    const top = dequantizeValue(maxq, g.scale, g.zero);
    const slack = F32_SLACK * (Math.abs(g.hi) + Math.abs(g.zero) + maxq * g.scale);
    expect(g.zero).toBeLessThanOrEqual(g.lo);
    expect(top).toBeGreaterThanOrEqual(g.hi - slack);
    if (layout.meta === 'fp32') expect(g.zero).toBe(g.lo); // exactly the paper's zero
    for (const c of g.positions) {
      const v = x[c]!;
      const r = xHat[c]!;
      expect(Number.isFinite(r)).toBe(true);
      if (v > top)
        expect(r).toBe(top); // clipped above: exactly the top level
      else if (v < g.zero)
        expect(r).toBe(g.zero); // clipped below: exactly the bottom level
      else expect(Math.abs(r - v)).toBeLessThanOrEqual(g.scale / 2 + slack);
    }
  }
}

const bitsArb = fc.constantFrom(...SUPPORTED_BITS);
const metaArb = fc.constantFrom(...SUPPORTED_META_FORMATS);

describe('quantizeTokenReference error bounds', () => {
  it('half a step inside the clipped range, the grid end outside it (random tokens)', () => {
    fc.assert(
      fc.property(
        bitsArb,
        metaArb,
        fc.integer({ min: 1, max: 160 }),
        fc.integer({ min: 1, max: 64 }),
        fc.double({ min: 0.5, max: 1, noNaN: true }),
        fc.integer(),
        fc.boolean(),
        (bits, meta, channels, groupSize, alpha, seed, permute) => {
          const perm = permute ? randomPerm(channels, seed) : null;
          const layout = tokenLayout(
            channels,
            Math.min(groupSize, channels),
            bits,
            meta,
            alpha,
            perm,
          );
          // Spread 100 keeps lo and the scale inside the fp8 range (|x| <= 448).
          checkBounds(layout, randomTokens(1, channels, seed, 100));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('head dim 128 (two heads, 256 channels) with groups of 1..256, every bit width', () => {
    for (const bits of SUPPORTED_BITS) {
      for (const groupSize of [1, 2, 3, 7, 16, 32, 64, 100, 128, 256]) {
        const layout = tokenLayout(256, groupSize, bits, 'fp16', 0.92, randomPerm(256, groupSize));
        checkBounds(layout, randomTokens(1, 256, 1000 + groupSize, 8));
      }
    }
  });

  it('with alpha = 1 and fp32 metadata the top level is max and the bottom is min', () => {
    const layout = tokenLayout(64, 16, 2, 'fp32', 1);
    const x = randomTokens(1, 64, 7);
    const { codes, meta } = pageFor(layout, 1);
    quantizeTokenReference(layout, x, 0, codes, 0, meta, 0);
    const xHat = new Float32Array(64);
    dequantizeTokenReference(layout, codes, 0, meta, 0, xHat, 0);
    for (let g = 0; g < 4; g++) {
      const group = Array.from(x.subarray(16 * g, 16 * g + 16));
      const back = Array.from(xHat.subarray(16 * g, 16 * g + 16));
      expect(Math.min(...back)).toBe(Math.min(...group));
      expect(Math.abs(Math.max(...back) - Math.max(...group))).toBeLessThan(1e-5);
    }
  });

  it('values beyond alpha * max reconstruct to the top level (clipping)', () => {
    const layout = tokenLayout(8, 8, 4, 'fp32', 0.5);
    const x = Float32Array.of(-8, -1, 0, 1, 2, 3, 4, 8); // lo = -4, hi = 4
    const { codes, meta } = pageFor(layout, 1);
    quantizeTokenReference(layout, x, 0, codes, 0, meta, 0);
    const xHat = new Float32Array(8);
    dequantizeTokenReference(layout, codes, 0, meta, 0, xHat, 0);
    expect(xHat[0]).toBe(-4);
    expect(xHat[7]).toBeCloseTo(4, 5);
    expect(xHat[6]).toBe(xHat[7]); // 4 = hi is the top level, like 8
    expect(readMeta('fp32', meta, 0)).toBe(Math.fround(8 / 15));
  });
});

describe('degenerate groups (scale floor)', () => {
  it.each(SUPPORTED_META_FORMATS.map((m) => [m]))(
    'constant and zero tokens give no NaN (%s)',
    (meta) => {
      for (const bits of SUPPORTED_BITS) {
        const layout = tokenLayout(32, 8, bits, meta, 1);
        for (const c of [0, 1, -3.5, 1e-7]) {
          const x = new Float32Array(32).fill(c);
          const { codes, meta: m } = pageFor(layout, 1);
          quantizeTokenReference(layout, x, 0, codes, 0, m, 0);
          const xHat = new Float32Array(32);
          dequantizeTokenReference(layout, codes, 0, m, 0, xHat, 0);
          const scale = readMeta(meta, m, 0);
          expect(scale).toBeGreaterThan(0);
          for (const r of xHat) {
            expect(Number.isNaN(r)).toBe(false);
            expect(Math.abs(r - c)).toBeLessThanOrEqual(scale / 2 + Math.abs(c) * 2 ** -3);
          }
          if (c === 0) expect(Array.from(xHat)).toEqual(new Array(32).fill(0));
        }
      }
    },
  );

  it('a one-channel group reconstructs its value (alpha 1)', () => {
    const layout = tokenLayout(5, 1, 2, 'fp32', 1);
    const x = Float32Array.of(1.5, -2.25, 0, 3, -0.125);
    const { codes, meta } = pageFor(layout, 1);
    quantizeTokenReference(layout, x, 0, codes, 0, meta, 0);
    const xHat = new Float32Array(5);
    dequantizeTokenReference(layout, codes, 0, meta, 0, xHat, 0);
    expect(xHat).toEqual(x);
  });
});

describe('the formula, spelled out (SKVQ.md section 2 in float32)', () => {
  it('codes match an independent scalar evaluation for fp32 metadata', () => {
    const f = Math.fround;
    for (const bits of SUPPORTED_BITS) {
      const layout = tokenLayout(48, 12, bits, 'fp32', 0.9, randomPerm(48, 3));
      const x = randomTokens(1, 48, 11);
      const { codes, meta } = pageFor(layout, 1);
      quantizeTokenReference(layout, x, 0, codes, 0, meta, 0);
      const q = new Uint8Array(48);
      unpackCodes(bits, codes, 0, 48, q);
      const maxq = bits === 1.5 ? 2 : 2 ** bits - 1;
      for (let g = 0; g < 4; g++) {
        const vals = Array.from({ length: 12 }, (_, i) => x[layout.perm![12 * g + i]!]!);
        const lo = f(f(0.9) * Math.min(...vals));
        const hi = f(f(0.9) * Math.max(...vals));
        const scale = Math.max(f(f(hi - lo) / maxq), f(1e-5));
        expect(readMeta('fp32', meta, 8 * g)).toBe(scale);
        expect(readMeta('fp32', meta, 8 * g + 4)).toBe(lo);
        vals.forEach((v, i) => {
          const t = f(f(v - lo) / scale);
          expect(q[12 * g + i]).toBe(Math.floor(f(Math.min(Math.max(t, 0), maxq) + 0.5)));
        });
      }
    }
  });
});

describe('permutation and batching', () => {
  it('a permuted layout equals the identity layout on the gathered token', () => {
    const channels = 40;
    const perm = randomPerm(channels, 5);
    const permuted = tokenLayout(channels, 8, 3, 'fp16', 0.95, perm);
    const identity = tokenLayout(channels, 8, 3, 'fp16', 0.95, null);
    const x = randomTokens(1, channels, 9);
    const gathered = Float32Array.from(perm, (c) => x[c]!);
    const a = pageFor(permuted, 1);
    const b = pageFor(identity, 1);
    quantizeTokenReference(permuted, x, 0, a.codes, 0, a.meta, 0);
    quantizeTokenReference(identity, gathered, 0, b.codes, 0, b.meta, 0);
    expect(a.codes).toEqual(b.codes);
    expect(a.meta).toEqual(b.meta);
    const outA = new Float32Array(channels);
    const outB = new Float32Array(channels);
    dequantizeTokenReference(permuted, a.codes, 0, a.meta, 0, outA, 0);
    dequantizeTokenReference(identity, b.codes, 0, b.meta, 0, outB, 0);
    for (let j = 0; j < channels; j++) expect(outA[perm[j]!]).toBe(outB[j]);
  });

  it('quantizeTokensReference equals a loop of single tokens at offsets', () => {
    const layout = tokenLayout(24, 6, 1.5, 'fp8e4m3', 0.9, randomPerm(24, 1));
    const count = 5;
    const x = randomTokens(count, 24, 21);
    const batch = pageFor(layout, count);
    quantizeTokensReference(layout, x, count, batch.codes, 0, batch.meta, 0);
    const single = pageFor(layout, count);
    const rowBytes = batch.codes.length / count;
    const metaBytes = batch.meta.length / count;
    for (let t = 0; t < count; t++) {
      quantizeTokenReference(
        layout,
        x,
        t * 24,
        single.codes,
        t * rowBytes,
        single.meta,
        t * metaBytes,
      );
    }
    expect(single.codes).toEqual(batch.codes);
    expect(single.meta).toEqual(batch.meta);
    const all = new Float32Array(count * 24);
    dequantizeTokensReference(layout, batch.codes, 0, batch.meta, 0, count, all, 0);
    const one = new Float32Array(24);
    dequantizeTokenReference(layout, batch.codes, 2 * rowBytes, batch.meta, 2 * metaBytes, one, 0);
    expect(all.subarray(48, 72)).toEqual(one);
  });
});

describe('rejections', () => {
  const layout = tokenLayout(16, 4, 2, 'fp16');

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'rejects %s with NON_FINITE_INPUT and writes nothing',
    (bad) => {
      const x = randomTokens(3, 16, 1);
      x[2 * 16 + 5] = bad; // in the last token of a batch
      const { codes, meta } = pageFor(layout, 3);
      codes.fill(0xab);
      meta.fill(0xcd);
      try {
        quantizeTokensReference(layout, x, 3, codes, 0, meta, 0);
        expect.unreachable();
      } catch (error) {
        expect(isSkvqError(error, 'NON_FINITE_INPUT')).toBe(true);
        expect((error as Error).message).toContain(String(bad));
      }
      expect(codes.every((b) => b === 0xab)).toBe(true);
      expect(meta.every((b) => b === 0xcd)).toBe(true);
    },
  );

  it('rejects activations beyond the fp8 metadata range, writing nothing', () => {
    const fp8 = tokenLayout(16, 4, 2, 'fp8e4m3');
    const x = randomTokens(1, 16, 2);
    x[9] = -1000;
    const { codes, meta } = pageFor(fp8, 1);
    expect(() => quantizeTokenReference(fp8, x, 0, codes, 0, meta, 0)).toThrow(/448/);
    expect(codes.every((b) => b === 0)).toBe(true);
    expect(meta.every((b) => b === 0)).toBe(true);
  });

  it('rejects bad layouts and buffers with typed errors naming the problem', () => {
    const x = randomTokens(1, 16, 3);
    const { codes, meta } = pageFor(layout, 1);
    const bad = (patch: Partial<TokenGroupLayout>) => ({ ...layout, ...patch }) as TokenGroupLayout;
    const perm = Uint32Array.from({ length: 16 }, (_, i) => i);
    perm[3] = 2;
    expect(() => quantizeTokenReference(bad({ perm }), x, 0, codes, 0, meta, 0)).toThrow(
      /perm\[3\] = 2/,
    );
    expect(() =>
      quantizeTokenReference(
        bad({ groupOffsets: Uint32Array.of(0, 8, 8, 16) }),
        x,
        0,
        codes,
        0,
        meta,
        0,
      ),
    ).toThrow(/strictly increasing/);
    expect(() =>
      quantizeTokenReference(bad({ groupOffsets: Uint32Array.of(0, 8) }), x, 0, codes, 0, meta, 0),
    ).toThrow(/from 0 to 16/);
    expect(() => quantizeTokenReference(bad({ alpha: 1.2 }), x, 0, codes, 0, meta, 0)).toThrow(
      /\(0, 1\]/,
    );
    expect(() =>
      quantizeTokenReference(bad({ bits: 5 as BitWidth }), x, 0, codes, 0, meta, 0),
    ).toThrow(/unsupported bits 5/);
    expect(() =>
      quantizeTokenReference(bad({ meta: 'bf16' as MetaFormat }), x, 0, codes, 0, meta, 0),
    ).toThrow(/unsupported metadata format/);
    expect(() => quantizeTokenReference(layout, x, 1, codes, 0, meta, 0)).toThrow(/x has 16/);
    expect(() => quantizeTokenReference(layout, x, 0, codes, 1, meta, 0)).toThrow(/codes/);
    expect(() => quantizeTokenReference(layout, x, 0, codes, 0, meta.subarray(1), 0)).toThrow(
      /meta/,
    );
  });
});
