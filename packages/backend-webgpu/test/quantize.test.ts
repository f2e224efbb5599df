import {
  type BitWidth,
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  type MetaFormat,
  metaBytesPerUnit,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import { expect, test } from 'vitest';
import { activations, describeWebgpu, permutation, probeWebgpu, rng } from './helpers.js';

const probe = await probeWebgpu();

/** Unequal groups (like raw k-means clusters) over a channel count no row width divides. */
function unequalGroups(channels: number): Uint32Array {
  return new Uint32Array([0, 5, 19, 20, 33, channels]);
}

describeWebgpu('quantizeTokens (webgpu) vs quantizeTokensReference', probe, (backend) => {
  const C = 45; // rows of 45 codes are not 4-byte aligned at any bit width
  const T = 7;
  // The conformance suite covers every bits x meta pair; here the packing edge cases:
  // ternary and the 3-bit stream (codes crossing bytes and words), each metadata format.
  const cases: [BitWidth, MetaFormat][] = [
    [1.5, 'fp8e4m3'],
    [3, 'fp16'],
    [3, 'fp32'],
    [4, 'fp8e4m3'],
  ];
  for (const [bits, meta] of cases) {
    test(`bits ${bits}, meta ${meta}: codes and metadata bytes identical`, async () => {
      const random = rng(Math.round(bits * 100) + meta.length);
      const layout: TokenGroupLayout = {
        kind: 'token-group',
        channels: C,
        bits: bits as BitWidth,
        meta: meta as MetaFormat,
        perm: permutation(random, C),
        groupOffsets: unequalGroups(C),
        alpha: 0.93,
      };
      const x = activations(random, T, C);
      // A constant token exercises the scale floor.
      x.fill(0.25, 2 * C, 3 * C);
      const rowBytes = rowCodeBytes(layout);
      const metaBytes = metaBytesPerUnit(layout);
      // Non-zero offsets and pre-filled pages: rows land at unaligned byte offsets.
      const codesOffset = 3;
      const metaOffset = 1;
      const want = {
        codes: new Uint8Array(3 + T * rowBytes + 2).fill(7),
        meta: new Uint8Array(1 + T * metaBytes + 3).fill(9),
      };
      const got = { codes: want.codes.slice(), meta: want.meta.slice() };
      quantizeTokensReference(layout, x, T, want.codes, codesOffset, want.meta, metaOffset);
      await backend.kernels.quantizeTokens?.({
        layout,
        x,
        count: T,
        codes: got.codes,
        codesOffset,
        meta: got.meta,
        metaOffset,
      });
      expect(got.codes).toEqual(want.codes);
      expect(got.meta).toEqual(want.meta);
    });
  }

  test('identity order, contiguous groups, alpha 1 (RTN per token)', async () => {
    const random = rng(5);
    const layout: TokenGroupLayout = {
      kind: 'token-group',
      channels: 64,
      bits: 2,
      meta: 'fp16',
      perm: null,
      groupOffsets: contiguousGroupOffsets(64, 32),
      alpha: 1,
    };
    const x = activations(random, 3, 64);
    const want = { codes: new Uint8Array(3 * 16), meta: new Uint8Array(3 * 8) };
    const got = { codes: new Uint8Array(3 * 16), meta: new Uint8Array(3 * 8) };
    quantizeTokensReference(layout, x, 3, want.codes, 0, want.meta, 0);
    await backend.kernels.quantizeTokens?.({
      layout,
      x,
      count: 3,
      codes: got.codes,
      codesOffset: 0,
      meta: got.meta,
      metaOffset: 0,
    });
    expect(got).toEqual(want);
  });

  test('metadata out of the fp8 range throws like the reference and NaN is rejected', async () => {
    const layout: TokenGroupLayout = {
      kind: 'token-group',
      channels: 8,
      bits: 4,
      meta: 'fp8e4m3',
      perm: null,
      groupOffsets: contiguousGroupOffsets(8, 8),
      alpha: 1,
    };
    const x = new Float32Array(8).fill(1);
    x[3] = 1000; // scale 999/15 fits, zero fits; make the range beyond 448 instead:
    x[4] = -1000;
    const codes = new Uint8Array(4);
    const meta = new Uint8Array(2);
    expect(() => quantizeTokensReference(layout, x, 1, codes, 0, meta, 0)).toThrow();
    await expect(
      backend.kernels.quantizeTokens?.({
        layout,
        x,
        count: 1,
        codes,
        codesOffset: 0,
        meta,
        metaOffset: 0,
      }) as Promise<void>,
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    x[4] = Number.NaN;
    await expect(
      backend.kernels.quantizeTokens?.({
        layout,
        x,
        count: 1,
        codes,
        codesOffset: 0,
        meta,
        metaOffset: 0,
      }) as Promise<void>,
    ).rejects.toMatchObject({ code: 'NON_FINITE_INPUT' });
  });
});

describeWebgpu('quantizeBlock (webgpu) vs quantizeBlockReference', probe, (backend) => {
  for (const bits of [2] as const) {
    for (const meta of ['fp16'] as const) {
      test(`KIVI keys, bits ${bits}, meta ${meta}: identical bytes`, async () => {
        const random = rng(bits * 31 + meta.length);
        const layout: ChannelBlockLayout = {
          kind: 'channel-block',
          channels: 37,
          bits,
          meta,
          blockTokens: 8,
          alpha: 1,
        };
        const x = activations(random, 8, 37);
        const rowBytes = rowCodeBytes(layout);
        const want = {
          codes: new Uint8Array(2 + 8 * rowBytes).fill(3),
          meta: new Uint8Array(5 + metaBytesPerUnit(layout)).fill(4),
        };
        const got = { codes: want.codes.slice(), meta: want.meta.slice() };
        quantizeBlockReference(layout, x, 0, want.codes, 2, want.meta, 5);
        await backend.kernels.quantizeBlock?.({
          layout,
          x,
          codes: got.codes,
          codesOffset: 2,
          meta: got.meta,
          metaOffset: 5,
        });
        expect(got).toEqual(want);
      });
    }
  }
});
