import {
  type BitWidth,
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  type FpSegment,
  type KvGeometry,
  type MetaFormat,
  metaBytesPerUnit,
  type PackedSegment,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import {
  decodeFp16,
  dequantizeBlockReference,
  dequantizeTokensReference,
  encodeFp16,
  quantizeBlockReference,
  quantizeTokensReference,
} from '@skvq/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AddonKind, createCudaBackend, cudaAvailability } from '../src/index.js';
import { emulatorAddonPath, KernelArgs } from '../src/internal.js';
import { referenceAttention } from './reference-attention.js';

// The same suite runs twice: on the GPU through the CUDA addon (skipped with the reason on
// machines without a driver, like CI; scripts/gpu-check.sh runs it on a GPU machine), and
// on the host emulator addon, which runs the very same kernel source on CPU threads (CI
// builds it with build:native, so there a missing emulator fails instead of skipping).
const required = process.env.SKVQ_REQUIRE_CI_FEATURES === '1';

function target(addon: AddonKind): { skip: boolean; why: string } {
  const availability = cudaAvailability(addon);
  if (availability.available) return { skip: false, why: '' };
  if (addon === 'emulator' && required) return { skip: false, why: '' };
  return {
    skip: true,
    why:
      addon === 'cuda'
        ? ` (skipped: no CUDA driver: ${availability.reason})`
        : ` (skipped: emulator ${emulatorAddonPath()} not built: ${availability.reason})`,
  };
}

/** Attention output tolerance vs the float64 reference (float32 accumulation, exp). */
const ATTENTION_TOLERANCE = 2e-4;

/** Deterministic pseudo-random values with outlier channels (as real keys have). */
function activations(count: number, channels: number, seed: number): Float32Array {
  const x = new Float32Array(count * channels);
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32 - 0.5;
    x[i] = u * ((i % channels) % 7 === 0 ? 8 : 2);
  }
  return x;
}

function shuffledPerm(channels: number, seed: number): Uint32Array {
  const perm = Uint32Array.from({ length: channels }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = channels - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return perm;
}

function tokenGroup(
  channels: number,
  bits: BitWidth,
  meta: MetaFormat,
  groupOffsets: Uint32Array,
  alpha: number,
): TokenGroupLayout {
  return {
    kind: 'token-group',
    channels,
    bits,
    meta,
    perm: shuffledPerm(channels, 7),
    groupOffsets,
    alpha,
  };
}

for (const addon of ['cuda', 'emulator'] as const) {
  const { skip, why } = target(addon);
  describe(`cuda kernels (${addon === 'cuda' ? 'GPU' : 'host emulator'})`, () => {
    const backend = createCudaBackend(0, { addon });
    beforeAll(async () => {
      if (!skip) await backend.init!();
    });
    afterAll(async () => {
      if (!skip) await backend.dispose!();
    });

    const unequal = Uint32Array.of(0, 10, 37, 64, 100, 128);
    for (const bits of [1.5, 2, 3, 4, 8] as const) {
      for (const meta of ['fp32', 'fp16', 'fp8e4m3'] as const) {
        it.skipIf(skip)(
          `quantizeTokens matches the reference byte for byte: ${bits} bits, ${meta}${why}`,
          async () => {
            const layout = tokenGroup(128, bits, meta, unequal, 0.92);
            const count = 9;
            const x = activations(count, 128, bits * 100 + meta.length);
            const rb = rowCodeBytes(layout);
            const mb = metaBytesPerUnit(layout);
            const want = {
              codes: new Uint8Array(3 + count * rb),
              meta: new Uint8Array(5 + count * mb),
            };
            quantizeTokensReference(layout, x, count, want.codes, 3, want.meta, 5);
            const got = {
              codes: new Uint8Array(want.codes.length),
              meta: new Uint8Array(want.meta.length),
            };
            await backend.kernels.quantizeTokens!({
              layout,
              x,
              count,
              codes: got.codes,
              codesOffset: 3,
              meta: got.meta,
              metaOffset: 5,
            });
            expect(got.codes).toEqual(want.codes);
            expect(got.meta).toEqual(want.meta);
            const back = await backend.kernels.dequantize!({
              layout,
              codes: got.codes.subarray(3),
              meta: got.meta.subarray(5),
              first: 2,
              count: 5,
            });
            const ref = new Float32Array(5 * 128);
            dequantizeTokensReference(
              layout,
              got.codes,
              3 + 2 * rb,
              got.meta,
              5 + 2 * mb,
              5,
              ref,
              0,
            );
            expect(back).toEqual(ref);
          },
        );
      }
    }

    it.skipIf(skip)(`quantizeBlock and dequantize match the KIVI reference${why}`, async () => {
      const layout: ChannelBlockLayout = {
        kind: 'channel-block',
        channels: 96,
        bits: 2,
        meta: 'fp16',
        blockTokens: 32,
        alpha: 1,
      };
      const x = activations(32, 96, 3);
      const rb = rowCodeBytes(layout);
      const want = {
        codes: new Uint8Array(32 * rb),
        meta: new Uint8Array(metaBytesPerUnit(layout)),
      };
      quantizeBlockReference(layout, x, 0, want.codes, 0, want.meta, 0);
      const got = {
        codes: new Uint8Array(want.codes.length),
        meta: new Uint8Array(want.meta.length),
      };
      await backend.kernels.quantizeBlock!({
        layout,
        x,
        codes: got.codes,
        codesOffset: 0,
        meta: got.meta,
        metaOffset: 0,
      });
      expect(got.codes).toEqual(want.codes);
      expect(got.meta).toEqual(want.meta);
      const ref = new Float32Array(32 * 96);
      dequantizeBlockReference(layout, got.codes, 0, got.meta, 0, ref, 0);
      expect(
        await backend.kernels.dequantize!({
          layout,
          codes: got.codes,
          meta: got.meta,
          first: 0,
          count: 32,
        }),
      ).toEqual(ref);
    });

    it.skipIf(skip)(`rejects NaN and out-of-range metadata with typed errors${why}`, async () => {
      const layout = tokenGroup(128, 2, 'fp8e4m3', unequal, 1);
      const codes = new Uint8Array(64);
      const meta = new Uint8Array(64);
      const x = activations(1, 128, 1);
      x[4] = -2000; // the group's zero, lo = -2000, lies beyond E4M3's largest value 448
      await expect(
        Promise.resolve().then(() =>
          backend.kernels.quantizeTokens!({
            layout,
            x,
            count: 1,
            codes,
            codesOffset: 0,
            meta,
            metaOffset: 0,
          }),
        ),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    /** SKVQ-style streams: fp16 sinks, packed middle, fp32 window; values split differently. */
    function streams(geometry: KvGeometry, length: number) {
      const c = geometry.kvHeads * geometry.headDim;
      const k = activations(length, c, 11);
      const v = activations(length, c, 12);
      const kl = tokenGroup(c, 2, 'fp8e4m3', contiguousGroupOffsets(c, 32), 0.92);
      const vl = tokenGroup(c, 1.5, 'fp16', contiguousGroupOffsets(c, 32), 0.96);
      const sinks = 5;
      const window = 16;
      const mid = length - sinks - window;
      const kHat = Float32Array.from(k);
      const vHat = Float32Array.from(v);
      const packed = (
        layout: TokenGroupLayout,
        x: Float32Array,
        hat: Float32Array,
        from: number,
        count: number,
      ): PackedSegment => {
        const codes = new Uint8Array(count * rowCodeBytes(layout));
        const meta = new Uint8Array(count * metaBytesPerUnit(layout));
        quantizeTokensReference(
          layout,
          x.subarray(from * c, (from + count) * c),
          count,
          codes,
          0,
          meta,
          0,
        );
        dequantizeTokensReference(layout, codes, 0, meta, 0, count, hat, from * c);
        return {
          kind: 'packed',
          count,
          layout,
          codes,
          meta,
          positions: Int32Array.from({ length: count }, (_, i) => from + i),
        };
      };
      const fp16 = (x: Float32Array, hat: Float32Array, from: number, count: number): FpSegment => {
        const data = new Uint16Array(count * c);
        for (let i = 0; i < data.length; i++) data[i] = encodeFp16(x[from * c + i]!);
        for (let i = 0; i < data.length; i++) hat[from * c + i] = decodeFp16(data[i]!);
        return {
          kind: 'fp',
          count,
          precision: 'fp16',
          data,
          positions: Int32Array.from({ length: count }, (_, i) => from + i),
        };
      };
      // Rows stored in reverse order: positions need not be sorted inside a segment.
      const fp32 = (x: Float32Array, from: number, count: number): FpSegment => {
        const data = new Float32Array(count * c);
        for (let r = 0; r < count; r++)
          data.set(x.subarray((from + count - 1 - r) * c, (from + count - r) * c), r * c);
        return {
          kind: 'fp',
          count,
          precision: 'fp32',
          data,
          positions: Int32Array.from({ length: count }, (_, r) => from + count - 1 - r),
        };
      };
      const keys = [
        fp16(k, kHat, 0, sinks),
        packed(kl, k, kHat, sinks, mid),
        fp32(k, sinks + mid, window),
      ];
      // Values: one packed run of a different split, then fp32.
      const values = [
        fp32(v, 0, sinks + 3),
        packed(vl, v, vHat, sinks + 3, mid - 3),
        fp32(v, sinks + mid, window),
      ];
      return { keys, values, kHat, vHat };
    }

    it.skipIf(skip)(
      `the dense fp16 benchmark kernel matches the reference (GQA 4/2, d128)${why}`,
      () => {
        const geometry: KvGeometry = {
          layers: 1,
          queryHeads: 4,
          kvHeads: 2,
          headDim: 128,
          rope: { style: 'none', theta: 0 },
        };
        const length = 150;
        const c = 256;
        const device = backend.device();
        const k16 = new Uint16Array(length * c);
        const v16 = new Uint16Array(length * c);
        const kx = activations(length, c, 21);
        const vx = activations(length, c, 22);
        for (let i = 0; i < k16.length; i++) {
          k16[i] = encodeFp16(kx[i]!);
          v16[i] = encodeFp16(vx[i]!);
          kx[i] = decodeFp16(k16[i]!);
          vx[i] = decodeFp16(v16[i]!);
        }
        const q = activations(1, 4 * 128, 23);
        const chunkLen = 40;
        const chunks = Math.ceil(length / chunkLen);
        const buffers = [
          device.upload(q),
          device.upload(k16),
          device.upload(v16),
          device.alloc(4 * chunks * 4),
          device.alloc(4 * chunks * 4),
          device.alloc(4 * chunks * 512),
          device.alloc(4 * 512),
          device.alloc(16),
          device.alloc(16),
        ] as const;
        const [dq, dk, dv, pm, pl, pacc, out, fm, fl] = buffers;
        try {
          device.launch(
            'bench',
            'dense_fp16_decode_partial',
            { grid: [chunks, 2], block: [128] },
            new KernelArgs()
              .ptr(dq)
              .ptr(dk)
              .ptr(dv)
              .i32(length)
              .i32(4)
              .i32(2)
              .f32(1 / Math.sqrt(128))
              .i32(chunkLen)
              .ptr(pm)
              .ptr(pl)
              .ptr(pacc),
          );
          device.launch(
            'attention',
            'skvq_attend_reduce',
            { grid: [4, 1], block: [128] },
            new KernelArgs()
              .ptr(pm)
              .ptr(pl)
              .ptr(pacc)
              .i32(chunks)
              .i32(4)
              .i32(128)
              .ptr(out)
              .ptr(fm)
              .ptr(fl),
          );
          device.synchronize();
          const got = out.download(new Float32Array(512));
          const want = referenceAttention(geometry, q, 1, length - 1, false, kx, vx, length, false);
          for (let i = 0; i < want.length; i++)
            expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(ATTENTION_TOLERANCE);
        } finally {
          for (const b of buffers) b.dispose();
        }
      },
    );

    for (const geometry of [
      {
        layers: 1,
        queryHeads: 4,
        kvHeads: 2,
        headDim: 32,
        rope: { style: 'pairwise', theta: 10000 },
      },
      { layers: 1, queryHeads: 2, kvHeads: 2, headDim: 64, rope: { style: 'half', theta: 500000 } },
    ] as KvGeometry[]) {
      it.skipIf(skip)(
        `attendDecode matches the reference (GQA ${geometry.queryHeads}/${geometry.kvHeads}, rope ${geometry.rope.style})${why}`,
        async () => {
          const length = 300;
          const { keys, values, kHat, vHat } = streams(geometry, length);
          const q = activations(1, geometry.queryHeads * geometry.headDim, 5);
          const sums = new Float32Array(length);
          const got = await backend.kernels.attendDecode!(
            { q, position: length - 1, keys, values, length, attentionSums: sums },
            { geometry, keysPreRope: true },
          );
          const want = referenceAttention(
            geometry,
            q,
            1,
            length - 1,
            false,
            kHat,
            vHat,
            length,
            true,
          );
          for (let i = 0; i < want.length; i++)
            expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(ATTENTION_TOLERANCE);
          expect(sums.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
        },
      );

      it.skipIf(skip)(
        `attendPrefill matches the causal reference (${geometry.rope.style})${why}`,
        async () => {
          const length = 120;
          const { keys, values, kHat, vHat } = streams(geometry, length);
          const count = 7;
          const start = length - count;
          const q = activations(count, geometry.queryHeads * geometry.headDim, 6);
          const got = await backend.kernels.attendPrefill!(
            { q, start, count, keys, values, length },
            { geometry, keysPreRope: true },
          );
          const want = referenceAttention(
            geometry,
            q,
            count,
            start,
            true,
            kHat,
            vHat,
            length,
            true,
          );
          for (let i = 0; i < want.length; i++)
            expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(ATTENTION_TOLERANCE);
        },
      );
    }
  });
}
