import {
  type BitWidth,
  type ChannelBlockLayout,
  isSkvqError,
  META_BYTES,
  type MetaFormat,
  maxQ,
  metaBytesPerUnit,
  rowCodeBytes,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
  type TokenGroupLayout,
} from '@skvq/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dequantizeBlockReference,
  dequantizeValue,
  quantizeBlockReference,
  quantizeTokenReference,
  readMeta,
  unpackCodes,
} from '../src/index.js';

/** KIVI's key block (arXiv 2402.02750), the size @skvq/baselines uses. */
const KIVI_BLOCK_TOKENS = 32;

/** Relative float32 slack of a few roundings. */
const F32_SLACK = 8 * 2 ** -23;

function blockLayout(
  channels: number,
  bits: BitWidth,
  meta: MetaFormat,
  alpha = 1,
  blockTokens = KIVI_BLOCK_TOKENS,
): ChannelBlockLayout {
  return { kind: 'channel-block', channels, bits, meta, blockTokens, alpha };
}

function randomBlock(tokens: number, channels: number, seed: number, spread = 8) {
  let a = seed >>> 0;
  const x = new Float32Array(tokens * channels);
  for (let i = 0; i < x.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    x[i] = (a / 2 ** 32 - 0.5) * 2 * spread * (1 + (i % channels)); // per-channel magnitudes differ
  }
  return x;
}

function pageFor(layout: ChannelBlockLayout) {
  return {
    codes: new Uint8Array(layout.blockTokens * rowCodeBytes(layout)),
    meta: new Uint8Array(metaBytesPerUnit(layout)),
  };
}

describe('quantizeBlockReference', () => {
  it('equals the token-group reference run down each channel (one shared formula)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SUPPORTED_BITS),
        fc.constantFrom(...SUPPORTED_META_FORMATS),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0.5, max: 1, noNaN: true }),
        fc.integer(),
        (bits, meta, channels, blockTokens, alpha, seed) => {
          const layout = blockLayout(channels, bits, meta, alpha, blockTokens);
          const x = randomBlock(blockTokens, channels, seed, 4);
          const { codes, meta: m } = pageFor(layout);
          quantizeBlockReference(layout, x, 0, codes, 0, m, 0);
          // One channel's column as a one-group "token" of blockTokens values.
          const column: TokenGroupLayout = {
            kind: 'token-group',
            channels: blockTokens,
            bits,
            meta,
            perm: null,
            groupOffsets: Uint32Array.of(0, blockTokens),
            alpha,
          };
          const q = new Uint8Array(blockTokens * channels);
          for (let t = 0; t < blockTokens; t++) {
            unpackCodes(bits, codes, t * rowCodeBytes(layout), channels, q.subarray(t * channels));
          }
          const size = META_BYTES[meta];
          for (let c = 0; c < channels; c++) {
            const xc = Float32Array.from({ length: blockTokens }, (_, t) => x[t * channels + c]!);
            const colCodes = new Uint8Array(rowCodeBytes(column));
            const colMeta = new Uint8Array(2 * size);
            quantizeTokenReference(column, xc, 0, colCodes, 0, colMeta, 0);
            const colQ = new Uint8Array(blockTokens);
            unpackCodes(bits, colCodes, 0, blockTokens, colQ);
            for (let t = 0; t < blockTokens; t++) expect(q[t * channels + c]).toBe(colQ[t]);
            expect(Array.from(m.subarray(2 * c * size, 2 * (c + 1) * size))).toEqual(
              Array.from(colMeta),
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it.each(SUPPORTED_BITS.map((b) => [b]))(
    '%s bits: within half a step per channel, clipped values at the grid ends',
    (bits) => {
      const channels = 128; // one head of dim 128
      const layout = blockLayout(channels, bits, 'fp16', 0.9);
      const x = randomBlock(KIVI_BLOCK_TOKENS, channels, 42 + bits, 0.05);
      const { codes, meta } = pageFor(layout);
      codes.fill(0xff); // stale bytes: must be overwritten
      quantizeBlockReference(layout, x, 0, codes, 0, meta, 0);
      const out = new Float32Array(x.length);
      dequantizeBlockReference(layout, codes, 0, meta, 0, out, 0);
      const maxq = maxQ(bits);
      for (let c = 0; c < channels; c++) {
        const scale = readMeta('fp16', meta, 4 * c);
        const zero = readMeta('fp16', meta, 4 * c + 2);
        const top = dequantizeValue(maxq, scale, zero);
        let min = Number.POSITIVE_INFINITY;
        let max = Number.NEGATIVE_INFINITY;
        for (let t = 0; t < KIVI_BLOCK_TOKENS; t++) {
          min = Math.min(min, x[t * channels + c]!);
          max = Math.max(max, x[t * channels + c]!);
        }
        const slack = F32_SLACK * (Math.abs(max) + Math.abs(zero) + maxq * scale);
        expect(zero).toBeLessThanOrEqual(Math.fround(Math.fround(0.9) * min));
        expect(top).toBeGreaterThanOrEqual(Math.fround(Math.fround(0.9) * max) - slack);
        for (let t = 0; t < KIVI_BLOCK_TOKENS; t++) {
          const v = x[t * channels + c]!;
          const r = out[t * channels + c]!;
          if (v > top) expect(r).toBe(top);
          else if (v < zero) expect(r).toBe(zero);
          else expect(Math.abs(r - v)).toBeLessThanOrEqual(scale / 2 + slack);
        }
      }
    },
  );

  it('a constant channel gives no NaN (scale floor) and respects offsets', () => {
    const layout = blockLayout(4, 2, 'fp8e4m3', 1, 8);
    const x = new Float32Array(3 + 8 * 4).fill(2.5);
    const { codes, meta } = pageFor(layout);
    const bigCodes = new Uint8Array(codes.length + 5);
    const bigMeta = new Uint8Array(meta.length + 3);
    quantizeBlockReference(layout, x, 3, bigCodes, 5, bigMeta, 3);
    const out = new Float32Array(2 + 32);
    dequantizeBlockReference(layout, bigCodes, 5, bigMeta, 3, out, 2);
    expect(out[0]).toBe(0);
    expect(out[1]).toBe(0);
    for (let i = 2; i < out.length; i++)
      expect(Math.abs(out[i]! - 2.5)).toBeLessThanOrEqual(2 ** -9);
  });

  it('rejects NaN/Inf with NON_FINITE_INPUT and writes nothing', () => {
    const layout = blockLayout(8, 4, 'fp16');
    const x = randomBlock(KIVI_BLOCK_TOKENS, 8, 1);
    x[31 * 8 + 7] = Number.NaN;
    const { codes, meta } = pageFor(layout);
    codes.fill(7);
    meta.fill(9);
    try {
      quantizeBlockReference(layout, x, 0, codes, 0, meta, 0);
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'NON_FINITE_INPUT')).toBe(true);
    }
    expect(codes.every((b) => b === 7)).toBe(true);
    expect(meta.every((b) => b === 9)).toBe(true);
  });

  it('rejects bad layouts and short buffers', () => {
    const layout = blockLayout(8, 2, 'fp16');
    const x = randomBlock(KIVI_BLOCK_TOKENS, 8, 2);
    const { codes, meta } = pageFor(layout);
    const bad = (patch: Partial<ChannelBlockLayout>) =>
      ({ ...layout, ...patch }) as ChannelBlockLayout;
    expect(() => quantizeBlockReference(bad({ blockTokens: 0 }), x, 0, codes, 0, meta, 0)).toThrow(
      /blockTokens/,
    );
    expect(() => quantizeBlockReference(bad({ alpha: 0 }), x, 0, codes, 0, meta, 0)).toThrow(
      /\(0, 1\]/,
    );
    expect(() =>
      quantizeBlockReference(
        bad({ kind: 'token-group' as 'channel-block' }),
        x,
        0,
        codes,
        0,
        meta,
        0,
      ),
    ).toThrow(/expected channel-block/);
    expect(() => quantizeBlockReference(layout, x.subarray(1), 0, codes, 0, meta, 0)).toThrow(
      /x has/,
    );
    expect(() => quantizeBlockReference(layout, x, 0, codes.subarray(1), 0, meta, 0)).toThrow(
      /codes/,
    );
    expect(() =>
      dequantizeBlockReference(layout, codes, 0, meta, 0, new Float32Array(10), 0),
    ).toThrow(/out/);
  });
});
