import {
  type BitWidth,
  kvHidden,
  type MetaFormat,
  metaBytesPerUnit,
  queryHidden,
  rowCodeBytes,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
} from '@skvq/core';
import { quantizeTokensReference } from '@skvq/formats';
import { describe, expect, it } from 'vitest';
import { dequantizeKernelFast, dequantizeKernelReference } from '../src/dequantize.js';
import {
  attendDecodeFast,
  attendPrefillFast,
  PREFILL_SCORE_BUDGET,
} from '../src/fast-attention.js';
import { quantizeTokensFast } from '../src/fast-quantize.js';
import { attendDecodeReference, attendPrefillReference } from '../src/reference-attention.js';
import {
  geometry,
  normals,
  type Piece,
  relErr,
  rng,
  segments,
  tokenGroupLayout,
} from './helpers.js';

/**
 * Fast float32 scores against the float64 reference: about 1e-6 relative at these sizes;
 * 1e-5 still catches any wrong channel, position or scale (those move outputs by > 1e-2).
 */
const FAST_TOLERANCE = 1e-5;

describe('fast kernels against the reference', () => {
  let seed = 1;
  for (const bits of SUPPORTED_BITS) {
    for (const meta of SUPPORTED_META_FORMATS) {
      for (const kind of ['token-group', 'channel-block'] as const) {
        for (const preRope of [true, false]) {
          const gqa = (seed & 1) === 1;
          const style = (seed & 2) === 0 ? 'pairwise' : 'half';
          const caseSeed = seed++;
          it(`${bits} bits, ${meta}, ${kind}, keys ${preRope ? 'pre' : 'post'}-RoPE, ${gqa ? 'GQA' : 'MHA'} ${style}: decode and prefill`, () => {
            const r = rng(caseSeed);
            const g = gqa ? geometry(4, 2, 16, style) : geometry(2, 2, 16, style);
            const channels = kvHidden(g);
            const length = 3 + 16 + 4;
            const k = normals(r, length * channels, 2);
            const v = normals(r, length * channels);
            const layout = (): Piece => ({
              kind: 'packed',
              count: 16,
              layout:
                kind === 'token-group'
                  ? tokenGroupLayout(r, channels, bits as BitWidth, meta as MetaFormat, 5)
                  : { kind: 'channel-block', channels, bits, meta, blockTokens: 8, alpha: 1 },
            });
            const keys = segments(k, g, [
              { kind: 'fp32', count: 3 },
              layout(),
              { kind: 'fp16', count: 4 },
            ]);
            const values = segments(v, g, [
              { kind: 'fp16', count: 3 },
              layout(),
              { kind: 'fp32', count: 4 },
            ]);
            const attrs = { geometry: g, keysPreRope: preRope };
            const q = normals(r, queryHidden(g));
            const decode = { q, position: length - 1, keys, values, length };
            expect(
              relErr(attendDecodeFast(decode, attrs), attendDecodeReference(decode, attrs)),
            ).toBeLessThan(FAST_TOLERANCE);
            const rows = 6;
            const prefill = {
              q: normals(r, rows * queryHidden(g)),
              start: length - rows - 2,
              count: rows,
              keys,
              values,
              length,
            };
            const sumsFast = new Float32Array(length);
            const sumsRef = new Float32Array(length);
            const fast = attendPrefillFast({ ...prefill, attentionSums: sumsFast }, attrs);
            const ref = attendPrefillReference({ ...prefill, attentionSums: sumsRef }, attrs);
            expect(relErr(fast, ref)).toBeLessThan(FAST_TOLERANCE);
            expect(relErr(sumsFast, sumsRef)).toBeLessThan(FAST_TOLERANCE);
            // Causal: positions after the last query row get no attention at all.
            expect(sumsFast[length - 1]).toBe(0);
          });
        }
      }
    }
  }
});

describe('fast quantizeTokens and dequantize', () => {
  for (const bits of SUPPORTED_BITS) {
    it(`${bits} bits: bytes identical to the reference for every meta format; dequantize identical`, () => {
      const r = rng(1000 + bits * 10);
      for (const meta of SUPPORTED_META_FORMATS) {
        const layout = tokenGroupLayout(r, 29, bits, meta, 4);
        if (layout.kind !== 'token-group') throw new Error('unreachable');
        const count = 9;
        const x = normals(r, count * 29, 3);
        const codes = new Uint8Array(count * rowCodeBytes(layout) + 1);
        const metaBytes = new Uint8Array(count * metaBytesPerUnit(layout) + 2);
        const wantCodes = codes.slice();
        const wantMeta = metaBytes.slice();
        quantizeTokensReference(layout, x, count, wantCodes, 1, wantMeta, 2);
        quantizeTokensFast({
          layout,
          x,
          count,
          codes,
          codesOffset: 1,
          meta: metaBytes,
          metaOffset: 2,
        });
        expect(codes).toEqual(wantCodes);
        expect(metaBytes).toEqual(wantMeta);
        const inputs = {
          layout,
          codes: wantCodes.subarray(1),
          meta: wantMeta.subarray(2),
          first: 2,
          count: 5,
        };
        expect(dequantizeKernelFast(inputs)).toEqual(dequantizeKernelReference(inputs));
      }
    });
  }
});

describe('fast prefill in chunks', () => {
  it('a prompt larger than the score budget is processed in chunks with the same result', () => {
    const r = rng(77);
    // 8 query heads x 1100 positions: chunks of floor(2^22 / 8800) = 476 rows.
    const g = geometry(8, 2, 8);
    const length = 1100;
    const channels = kvHidden(g);
    const keys = segments(normals(r, length * channels), g, [{ kind: 'fp32', count: length }]);
    const values = segments(normals(r, length * channels), g, [{ kind: 'fp16', count: length }]);
    const attrs = { geometry: g, keysPreRope: true };
    const inputs = {
      q: normals(r, length * queryHidden(g)),
      start: 0,
      count: length,
      keys,
      values,
      length,
    };
    expect(8 * length * length).toBeGreaterThan(PREFILL_SCORE_BUDGET);
    const sumsFast = new Float32Array(length);
    const sumsRef = new Float32Array(length);
    const fast = attendPrefillFast({ ...inputs, attentionSums: sumsFast }, attrs);
    const ref = attendPrefillReference({ ...inputs, attentionSums: sumsRef }, attrs);
    expect(relErr(fast, ref)).toBeLessThan(FAST_TOLERANCE);
    expect(relErr(sumsFast, sumsRef)).toBeLessThan(FAST_TOLERANCE);
  });
});
