import {
  channelBlockLayout,
  randomTokenGroupLayout,
  randomTokens,
} from '@skvq/backend-conformance';
import {
  type BitWidth,
  contiguousGroupOffsets,
  metaBytesPerUnit,
  mulberry32,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import { expect, test } from 'vitest';
import { createGpujsBackend, type GpujsBackend, type GpujsMode } from '../src/index.js';
import { describeModes } from './helpers.js';

const BITS: BitWidth[] = [8, 4, 3, 2, 1.5];

function quantizeBoth(
  backend: Parameters<Parameters<typeof describeModes>[1]>[0],
  layout: TokenGroupLayout,
  x: Float32Array,
  count: number,
) {
  const want = {
    codes: new Uint8Array(count * rowCodeBytes(layout)),
    meta: new Uint8Array(count * metaBytesPerUnit(layout)),
  };
  const got = { codes: new Uint8Array(want.codes.length), meta: new Uint8Array(want.meta.length) };
  quantizeTokensReference(layout, x, count, want.codes, 0, want.meta, 0);
  backend.kernels.quantizeTokens?.({
    layout,
    x,
    count,
    codes: got.codes,
    codesOffset: 0,
    meta: got.meta,
    metaOffset: 0,
  });
  return { want, got };
}

/** Another backend in the same mode whose quantize flags values within `margin` of a boundary. */
async function withMargin<T>(
  mode: GpujsMode,
  margin: number,
  body: (backend: GpujsBackend) => T,
): Promise<T> {
  const backend = createGpujsBackend({ mode, require: mode, quantBoundaryMargin: margin });
  await backend.init();
  try {
    return body(backend);
  } finally {
    backend.dispose();
  }
}

await describeModes('quantize: exact on rounding boundaries', (backend, mode) => {
  test('values exactly on half-way points (ties) give the reference codes', () => {
    // One group per token spanning [0, maxq] with alpha 1: scale 1, zero 0, so x = k + 0.5
    // divides to exactly k + 0.5, where a division one ulp low would round down.
    for (const bits of BITS) {
      const maxq = bits === 1.5 ? 2 : 2 ** bits - 1;
      const channels = 2 * maxq + 2;
      const x = new Float32Array(channels);
      for (let c = 0; c < channels; c++) x[c] = Math.min(maxq, c / 2);
      x[channels - 1] = maxq;
      const layout: TokenGroupLayout = {
        kind: 'token-group',
        channels,
        bits,
        meta: 'fp32',
        perm: null,
        groupOffsets: contiguousGroupOffsets(channels, channels),
        alpha: 1,
      };
      const before = backend.context().exactRowRecomputes;
      const { want, got } = quantizeBoth(backend, layout, x, 1);
      expect(Array.from(got.codes), `${bits} bits`).toEqual(Array.from(want.codes));
      expect(Array.from(got.meta)).toEqual(Array.from(want.meta));
      // The ties were flagged and recomputed on the host.
      expect(backend.context().exactRowRecomputes).toBeGreaterThan(before);
    }
  });

  test('with every value flagged (host path only) and with none (device path only) the bytes equal the reference', async () => {
    const rng = mulberry32(7);
    for (const margin of [1, 0]) {
      await withMargin(mode, margin, (backend) => {
        for (const bits of BITS) {
          const layout = randomTokenGroupLayout(rng, {
            channels: 29,
            bits,
            meta: 'fp16',
            groupSize: 5,
          });
          const x = randomTokens(rng, 6, 29);
          const before = backend.context().exactRowRecomputes;
          const { want, got } = quantizeBoth(backend, layout, x, 6);
          expect(Array.from(got.codes), `margin ${margin}, ${bits} bits`).toEqual(
            Array.from(want.codes),
          );
          expect(Array.from(got.meta)).toEqual(Array.from(want.meta));
          const recomputed = backend.context().exactRowRecomputes - before;
          if (margin === 1) expect(recomputed).toBe(6);
        }
      });
    }
  });

  test('channel-block (KIVI keys) on boundaries and with every row flagged', async () => {
    const rng = mulberry32(8);
    await withMargin(mode, 1, (backend) => {
      for (const bits of BITS) {
        const layout = channelBlockLayout(19, bits, 'fp8e4m3', 4);
        const x = randomTokens(rng, 4, 19);
        const want = {
          codes: new Uint8Array(4 * rowCodeBytes(layout)),
          meta: new Uint8Array(metaBytesPerUnit(layout)),
        };
        const got = {
          codes: new Uint8Array(want.codes.length),
          meta: new Uint8Array(want.meta.length),
        };
        quantizeBlockReference(layout, x, 0, want.codes, 0, want.meta, 0);
        backend.kernels.quantizeBlock?.({
          layout,
          x,
          codes: got.codes,
          codesOffset: 0,
          meta: got.meta,
          metaOffset: 0,
        });
        expect(Array.from(got.codes), `${bits} bits`).toEqual(Array.from(want.codes));
        expect(Array.from(got.meta)).toEqual(Array.from(want.meta));
      }
    });
  });

  test('a metadata range error writes nothing', () => {
    const layout: TokenGroupLayout = {
      kind: 'token-group',
      channels: 4,
      bits: 2,
      meta: 'fp8e4m3',
      perm: null,
      groupOffsets: contiguousGroupOffsets(4, 4),
      alpha: 1,
    };
    const codes = new Uint8Array(4).fill(7);
    const meta = new Uint8Array(8).fill(7);
    const x = new Float32Array([-1e6, 0, 1, 2]); // beyond fp8 E4M3's range (448)
    expect(() =>
      backend.kernels.quantizeTokens?.({
        layout,
        x,
        count: 1,
        codes,
        codesOffset: 0,
        meta,
        metaOffset: 0,
      }),
    ).toThrow();
    expect(Array.from(codes)).toEqual([7, 7, 7, 7]);
    expect(Array.from(meta)).toEqual([7, 7, 7, 7, 7, 7, 7, 7]);
  });
});
