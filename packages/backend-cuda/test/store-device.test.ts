import {
  type BitWidth,
  type ChannelBlockLayout,
  type KvGeometry,
  type MetaFormat,
  metaBytesPerUnit,
  rowCodeBytes,
  type StoreBuffer,
  type StoreSegment,
  type StoreView,
  type TokenGroupLayout,
  transferStatsOf,
} from '@skvq/core';
import {
  decodeFp16,
  dequantizeTokensReference,
  encodeFp16,
  quantizeBlockReference,
  quantizeTokensReference,
} from '@skvq/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AddonKind, createCudaBackend, cudaAvailability } from '../src/index.js';
import { emulatorAddonPath } from '../src/internal.js';
import { referenceAttention } from './reference-attention.js';

// Backend-owned storage on the device: the same suite on the GPU (skipped with the reason
// where there is no driver, as here and on CI; scripts/gpu-check.sh runs it on a GPU) and on
// the host emulator addon, whose "device memory" is host memory behind the same addon
// interface, so every storage call, kernel launch and transfer count below is exercised.
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

function tokenGroup(channels: number, bits: BitWidth, meta: MetaFormat, groupSize: number) {
  const groups = channels / groupSize;
  return {
    kind: 'token-group',
    channels,
    bits,
    meta,
    perm: shuffledPerm(channels, 7 + channels),
    groupOffsets: Uint32Array.from({ length: groups + 1 }, (_, g) => g * groupSize),
    alpha: 0.92,
  } satisfies TokenGroupLayout;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const view = (buffer: StoreBuffer, byteOffset: number, byteLength: number): StoreView => ({
  buffer,
  byteOffset,
  byteLength,
});

/** Rows rounded through fp16 (what an fp16 store holds), as halves and as their values. */
function halves(x: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const bits = Uint16Array.from(x, (v) => encodeFp16(v));
  return { bits, values: Float32Array.from(bits, (b) => decodeFp16(b)) };
}

for (const addon of ['cuda', 'emulator'] as const) {
  const { skip, why } = target(addon);
  describe(`cuda storage (${addon === 'cuda' ? 'GPU' : 'host emulator'})`, () => {
    const backend = createCudaBackend(0, { addon, name: `cuda-${addon}` });
    const storage = backend.storage;
    const kernels = storage.kernels!;
    beforeAll(async () => {
      if (!skip) await backend.init!();
    });
    afterAll(async () => {
      if (!skip) await backend.dispose!();
    });

    it.skipIf(skip)(
      `allocates zeroed device buffers and round-trips writes, copies and reads${why}`,
      async () => {
        expect(storage.residence).toBe('device');
        const a = storage.allocate(256, 'codes');
        const b = storage.allocate(64, 'meta');
        expect(a.byteLength).toBe(256);
        expect(a.host).toBeUndefined();
        expect(await storage.read(view(a, 0, 256))).toEqual(new Uint8Array(256));
        const data = Uint8Array.from({ length: 40 }, (_, i) => i + 1);
        storage.write(a, 100, data);
        expect(await storage.read(view(a, 100, 40))).toEqual(data);
        expect((await storage.read(view(a, 96, 48))).subarray(0, 4)).toEqual(new Uint8Array(4));
        storage.copy(view(a, 110, 20), b, 8);
        const got = await storage.read(view(b, 0, 64));
        expect(got.subarray(8, 28)).toEqual(data.subarray(10, 30));
        expect(got.subarray(0, 8)).toEqual(new Uint8Array(8));
        // Overlapping copy inside one buffer behaves like memmove.
        storage.copy(view(a, 100, 40), a, 104);
        expect(await storage.read(view(a, 104, 40))).toEqual(data);
        storage.release(a);
        expect(() => storage.read(view(a, 0, 4))).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
        expect(() => storage.write(b, 60, new Uint8Array(8))).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
        expect(() => storage.allocate(6, 'fp')).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
        storage.release(b);
      },
    );

    it.skipIf(skip)(
      `counts every host<->device byte of writes and reads, none of copies${why}`,
      async () => {
        const buffer = storage.allocate(1024, 'fp');
        const before = transferStatsOf(backend);
        storage.write(buffer, 0, new Uint8Array(300));
        storage.copy(view(buffer, 0, 512), buffer, 512);
        await storage.read(view(buffer, 16, 100));
        const after = transferStatsOf(backend);
        expect(after.bytesToDevice - before.bytesToDevice).toBe(300);
        expect(after.bytesFromDevice - before.bytesFromDevice).toBe(100);
        expect(storage.transferStats()).toEqual(after);
        storage.release(buffer);
      },
    );

    for (const source of ['host', 'fp32 rows', 'fp16 rows'] as const) {
      for (const [bits, meta] of [
        [2, 'fp8e4m3'],
        [1.5, 'fp16'],
        [3, 'fp32'],
      ] as const) {
        it.skipIf(skip)(
          `quantizeTokens into the store matches the CPU reference bit for bit: ${source}, ${bits} bits, ${meta}${why}`,
          async () => {
            const channels = 128;
            const count = 6;
            const layout = tokenGroup(channels, bits, meta, 32);
            const raw = activations(count, channels, bits * 31 + meta.length);
            const h = halves(raw);
            const x = source === 'fp16 rows' ? h.values : raw;
            const rb = rowCodeBytes(layout);
            const mb = metaBytesPerUnit(layout);
            const want = { codes: new Uint8Array(count * rb), meta: new Uint8Array(count * mb) };
            quantizeTokensReference(layout, x, count, want.codes, 0, want.meta, 0);

            const codes = storage.allocate(Math.ceil((16 + count * rb) / 4) * 4, 'codes');
            const metaBuf = storage.allocate(Math.ceil((12 + count * mb) / 4) * 4, 'meta');
            let input: Float32Array | { view: StoreView; precision: 'fp32' | 'fp16' } = x;
            let rows: StoreBuffer | undefined;
            if (source !== 'host') {
              const data = source === 'fp32 rows' ? bytesOf(raw) : bytesOf(h.bits);
              rows = storage.allocate(64 + data.byteLength, 'fp');
              storage.write(rows, 64, data);
              input = {
                view: view(rows, 64, data.byteLength),
                precision: source === 'fp32 rows' ? 'fp32' : 'fp16',
              };
            }
            const job = {
              layout,
              x: input,
              count,
              codes: view(codes, 16, count * rb),
              meta: view(metaBuf, 12, count * mb),
            };
            // The first call with a layout uploads its lookup arrays once; measure the next.
            await kernels.quantizeTokens!(job);
            const before = transferStatsOf(backend);
            await kernels.quantizeTokens!(job);
            const moved = transferStatsOf(backend);
            // Rows already in the store never cross: only the 4-byte error word comes back.
            expect(moved.bytesToDevice - before.bytesToDevice).toBe(
              source === 'host' ? x.byteLength : 0,
            );
            expect(moved.bytesFromDevice - before.bytesFromDevice).toBe(4);
            expect(await storage.read(view(codes, 16, count * rb))).toEqual(want.codes);
            expect(await storage.read(view(metaBuf, 12, count * mb))).toEqual(want.meta);
            // Nothing outside the views was touched.
            expect(await storage.read(view(codes, 0, 16))).toEqual(new Uint8Array(16));
            for (const b of [codes, metaBuf, rows]) if (b) storage.release(b);
          },
        );
      }
    }

    it.skipIf(skip)(
      `quantizeBlock from fp16 store rows matches the KIVI reference${why}`,
      async () => {
        const layout: ChannelBlockLayout = {
          kind: 'channel-block',
          channels: 64,
          bits: 2,
          meta: 'fp16',
          blockTokens: 16,
          alpha: 1,
        };
        const h = halves(activations(16, 64, 3));
        const want = {
          codes: new Uint8Array(16 * rowCodeBytes(layout)),
          meta: new Uint8Array(metaBytesPerUnit(layout)),
        };
        quantizeBlockReference(layout, h.values, 0, want.codes, 0, want.meta, 0);
        const rows = storage.allocate(h.bits.byteLength, 'fp');
        storage.write(rows, 0, bytesOf(h.bits));
        const codes = storage.allocate(want.codes.length, 'codes');
        const meta = storage.allocate(want.meta.length, 'meta');
        await kernels.quantizeBlock!({
          layout,
          x: { view: view(rows, 0, h.bits.byteLength), precision: 'fp16' },
          codes: view(codes, 0, want.codes.length),
          meta: view(meta, 0, want.meta.length),
        });
        expect(await storage.read(view(codes, 0, want.codes.length))).toEqual(want.codes);
        expect(await storage.read(view(meta, 0, want.meta.length))).toEqual(want.meta);
        for (const b of [rows, codes, meta]) storage.release(b);
      },
    );

    it.skipIf(skip)(
      `store quantize reports NaN and refuses short views with typed errors${why}`,
      async () => {
        const layout = tokenGroup(64, 2, 'fp8e4m3', 32);
        const codes = storage.allocate(64, 'codes');
        const meta = storage.allocate(64, 'meta');
        const x = new Float32Array(2 * 64);
        x[70] = Number.NaN;
        const rows = storage.allocate(x.byteLength, 'fp');
        storage.write(rows, 0, bytesOf(x));
        const call = (count: number) =>
          kernels.quantizeTokens!({
            layout,
            x: { view: view(rows, 0, x.byteLength), precision: 'fp32' },
            count,
            codes: view(codes, 0, 64),
            meta: view(meta, 0, 64),
          });
        expect(() => call(2)).toThrow(expect.objectContaining({ code: 'NON_FINITE_INPUT' }));
        expect(() => call(5)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
        for (const b of [codes, meta, rows]) storage.release(b);
      },
    );

    describe('attend over store segments', { timeout: 300_000 }, () => {
      // GQA, half-split RoPE, pre-RoPE keys: keys and values split differently (fp16 sinks,
      // packed pages, an fp32 window held out of position order).
      const geometry: KvGeometry = {
        layers: 1,
        queryHeads: 4,
        kvHeads: 2,
        headDim: 32,
        rope: { style: 'half', theta: 10000 },
      };
      const C = 64;
      const kLayout = tokenGroup(C, 2, 'fp8e4m3', 32);
      const vLayout = tokenGroup(C, 1.5, 'fp16', 32);
      const SINKS = 3;
      const PAGE = 24;

      /** A little cache held in the store, grown by decode steps like a real cache. */
      function storeCache(pages: number) {
        const kx = activations(4096, C, 11);
        const vx = activations(4096, C, 12);
        const kHat = new Float32Array(kx.length);
        const vHat = new Float32Array(vx.length);
        const sinksK = storage.allocate(SINKS * C * 2, 'fp');
        const sinksV = storage.allocate(SINKS * C * 2, 'fp');
        const windowK = storage.allocate(64 * C * 4, 'fp');
        const windowV = storage.allocate(64 * C * 4, 'fp');
        const codesK = storage.allocate(pages * PAGE * rowCodeBytes(kLayout), 'codes');
        const codesV = storage.allocate(
          Math.ceil((pages * PAGE * rowCodeBytes(vLayout)) / 4) * 4,
          'codes',
        );
        const metaK = storage.allocate(pages * PAGE * metaBytesPerUnit(kLayout), 'meta');
        const metaV = storage.allocate(pages * PAGE * metaBytesPerUnit(vLayout), 'meta');
        const buffers = [sinksK, sinksV, windowK, windowV, codesK, codesV, metaK, metaV];
        for (const [buffer, x, hat] of [
          [sinksK, kx, kHat],
          [sinksV, vx, vHat],
        ] as const) {
          const h = halves(x.subarray(0, SINKS * C));
          storage.write(buffer, 0, bytesOf(h.bits));
          hat.set(h.values, 0);
        }
        const keys: StoreSegment[] = [
          {
            kind: 'fp',
            count: SINKS,
            precision: 'fp16',
            data: view(sinksK, 0, SINKS * C * 2),
            positions: Int32Array.from({ length: SINKS }, (_, i) => i),
          },
        ];
        const values: StoreSegment[] = [
          { ...(keys[0] as object), data: view(sinksV, 0, SINKS * C * 2) } as StoreSegment,
        ];
        // Pages: quantized by the CPU reference (the store quantize kernels are tested above;
        // the emulator is slow) and written into the store at their offsets.
        for (let p = 0; p < pages; p++) {
          const first = SINKS + p * PAGE;
          for (const [layout, x, hat, codes, meta, list] of [
            [kLayout, kx, kHat, codesK, metaK, keys],
            [vLayout, vx, vHat, codesV, metaV, values],
          ] as const) {
            const rb = rowCodeBytes(layout);
            const mb = metaBytesPerUnit(layout);
            const page = { codes: new Uint8Array(PAGE * rb), meta: new Uint8Array(PAGE * mb) };
            quantizeTokensReference(
              layout,
              x.subarray(first * C),
              PAGE,
              page.codes,
              0,
              page.meta,
              0,
            );
            dequantizeTokensReference(layout, page.codes, 0, page.meta, 0, PAGE, hat, first * C);
            const codesView = view(codes, p * PAGE * rb, PAGE * rb);
            const metaView = view(meta, p * PAGE * mb, PAGE * mb);
            storage.write(codes, codesView.byteOffset, page.codes);
            storage.write(meta, metaView.byteOffset, page.meta);
            list.push({
              kind: 'packed',
              count: PAGE,
              layout,
              codes: codesView,
              meta: metaView,
              positions: Int32Array.from({ length: PAGE }, (_, i) => first + i),
            });
          }
        }
        const windowStart = SINKS + pages * PAGE;
        // The window: 64 fp32 slots filled from the last one backwards, so the segment holds
        // its positions in descending order (the kernels must not assume position order).
        const windowPositions = new Int32Array(64);
        let length = windowStart;
        return {
          kHat,
          vHat,
          buffers,
          get length() {
            return length;
          },
          /** Appends the next token (writes its K and V rows) and gives this step's segments. */
          append(): { keys: StoreSegment[]; values: StoreSegment[] } {
            const p = length++;
            const slot = 63 - (p - windowStart);
            windowPositions[slot] = p;
            storage.write(windowK, slot * C * 4, bytesOf(kx.subarray(p * C, (p + 1) * C)));
            storage.write(windowV, slot * C * 4, bytesOf(vx.subarray(p * C, (p + 1) * C)));
            kHat.set(kx.subarray(p * C, (p + 1) * C), p * C);
            vHat.set(vx.subarray(p * C, (p + 1) * C), p * C);
            const held = length - windowStart;
            const w = (buffer: StoreBuffer): StoreSegment => ({
              kind: 'fp',
              count: held,
              precision: 'fp32',
              data: view(buffer, slot * C * 4, held * C * 4),
              positions: windowPositions.subarray(slot),
            });
            return { keys: [...keys, w(windowK)], values: [...values, w(windowV)] };
          },
        };
      }

      it.skipIf(skip)(
        `decode steps match the float64 reference step after step${why}`,
        async () => {
          const cache = storeCache(3);
          for (let step = 0; step < 5; step++) {
            const { keys, values } = cache.append();
            const length = cache.length;
            const q = activations(1, 128, 100 + step);
            const got = await kernels.attend(
              { q, start: length - 1, rows: 1, causal: false, keys, values, length },
              { geometry, keysPreRope: true },
            );
            const want = referenceAttention(
              geometry,
              q,
              1,
              length - 1,
              false,
              cache.kHat,
              cache.vHat,
              length,
              true,
            );
            for (let i = 0; i < want.length; i++) {
              expect(Math.abs(got[i]! - want[i]!), `step ${step} out[${i}]`).toBeLessThan(
                ATTENTION_TOLERANCE,
              );
            }
          }
          for (const b of cache.buffers) storage.release(b);
        },
      );

      it.skipIf(skip)(
        `causal prefill rows and attention sums match the reference${why}`,
        async () => {
          const cache = storeCache(1);
          let segments = cache.append();
          for (let i = 0; i < 3; i++) segments = cache.append();
          const length = cache.length;
          const rows = 3;
          const start = length - rows;
          const q = activations(rows, 128, 77);
          const sums = new Float32Array(length);
          const got = await kernels.attend(
            { q, start, rows, causal: true, ...segments, length, attentionSums: sums },
            { geometry, keysPreRope: true },
          );
          const want = referenceAttention(
            geometry,
            q,
            rows,
            start,
            true,
            cache.kHat,
            cache.vHat,
            length,
            true,
          );
          for (let i = 0; i < want.length; i++) {
            expect(Math.abs(got[i]! - want[i]!), `out[${i}]`).toBeLessThan(ATTENTION_TOLERANCE);
          }
          // Each query row adds its probabilities averaged over heads: 1 per row in all.
          const total = sums.reduce((a, b) => a + b, 0);
          expect(total).toBeCloseTo(rows, 4);
          expect(sums.every((v) => v > 0)).toBe(true);
          for (const b of cache.buffers) storage.release(b);
        },
      );

      it.skipIf(skip)(`refuses segments that do not cover every position once${why}`, async () => {
        const cache = storeCache(1);
        const { keys, values } = cache.append();
        const length = cache.length;
        const attend = (k: StoreSegment[], len: number) =>
          kernels.attend(
            {
              q: new Float32Array(128),
              start: len - 1,
              rows: 1,
              causal: false,
              keys: k,
              values,
              length: len,
            },
            { geometry, keysPreRope: true },
          );
        expect(() => attend(keys.slice(0, -1), length)).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
        expect(() => attend([...keys, keys[0]!], length)).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
        for (const b of cache.buffers) storage.release(b);
      });
    });

    describe('transfers of a decode step', { timeout: 600_000 }, () => {
      // A cache laid out as the quantized cache keeps it on the device: 5 fp16 sinks,
      // 256-token packed pages (K 2 bits, V 1.5 bits, fp8 metadata), an fp16 window ring.
      // The GPU runs the lengths; the emulator (CPU threads) smaller ones.
      const lengths = addon === 'cuda' ? [4096, 32768] : [400, 1200];
      const geometry: KvGeometry = {
        layers: 1,
        queryHeads: 2,
        kvHeads: 1,
        headDim: 64,
        rope: { style: 'half', theta: 10000 },
      };
      const C = 64;
      const hidden = 128;
      const SINKS = 5;
      const PAGE = 256;
      /** Rows of the fp16 ring: the 128-token window plus the block waiting to be quantized. */
      const WINDOW = 2 * PAGE;
      const kLayout = tokenGroup(C, 2, 'fp8e4m3', 32);
      const vLayout = tokenGroup(C, 1.5, 'fp8e4m3', 32);

      /** Builds the cache at `cached` tokens, then measures one decode step after a warm-up one. */
      async function decodeStepBytes(cached: number) {
        const pages = Math.floor((cached - SINKS - 8) / PAGE);
        const inWindow = cached - SINKS - pages * PAGE;
        const buffers: StoreBuffer[] = [];
        const alloc = (bytes: number, purpose: 'codes' | 'meta' | 'fp') => {
          const b = storage.allocate(Math.ceil(bytes / 4) * 4, purpose);
          buffers.push(b);
          return b;
        };
        const streams = [kLayout, vLayout].map((layout, s) => {
          const rb = rowCodeBytes(layout);
          const mb = metaBytesPerUnit(layout);
          const sinks = alloc(SINKS * C * 2, 'fp');
          const window = alloc(WINDOW * C * 2, 'fp');
          const codes = alloc(pages * PAGE * rb, 'codes');
          const meta = alloc(pages * PAGE * mb, 'meta');
          const page = { codes: new Uint8Array(PAGE * rb), meta: new Uint8Array(PAGE * mb) };
          quantizeTokensReference(
            layout,
            activations(PAGE, C, 5 + s),
            PAGE,
            page.codes,
            0,
            page.meta,
            0,
          );
          storage.write(sinks, 0, bytesOf(halves(activations(SINKS, C, 9 + s)).bits));
          const segments: StoreSegment[] = [
            {
              kind: 'fp',
              count: SINKS,
              precision: 'fp16',
              data: view(sinks, 0, SINKS * C * 2),
              positions: Int32Array.from({ length: SINKS }, (_, i) => i),
            },
          ];
          for (let p = 0; p < pages; p++) {
            storage.write(codes, p * PAGE * rb, page.codes);
            storage.write(meta, p * PAGE * mb, page.meta);
            segments.push({
              kind: 'packed',
              count: PAGE,
              layout,
              codes: view(codes, p * PAGE * rb, PAGE * rb),
              meta: view(meta, p * PAGE * mb, PAGE * mb),
              positions: Int32Array.from({ length: PAGE }, (_, i) => SINKS + p * PAGE + i),
            });
          }
          const windowPositions = new Int32Array(WINDOW);
          return { segments, window, windowPositions };
        });
        const windowStart = SINKS + pages * PAGE;
        for (const stream of streams) {
          for (let k = 0; k < inWindow; k++) stream.windowPositions[k] = windowStart + k;
        }
        let length = cached;
        /** One decode step as a cache runs it: write the new K and V rows, attend. */
        const step = async () => {
          const p = length++;
          const slot = p - windowStart;
          const segments = streams.map((stream, s) => {
            stream.windowPositions[slot] = p;
            storage.write(
              stream.window,
              slot * C * 2,
              bytesOf(halves(activations(1, C, p + s)).bits),
            );
            const window: StoreSegment = {
              kind: 'fp',
              count: slot + 1,
              precision: 'fp16',
              data: view(stream.window, 0, WINDOW * C * 2),
              positions: stream.windowPositions,
            };
            return [...stream.segments, window];
          });
          const out = await kernels.attend(
            {
              q: activations(1, hidden, p),
              start: p,
              rows: 1,
              causal: false,
              keys: segments[0]!,
              values: segments[1]!,
              length,
            },
            { geometry, keysPreRope: true },
          );
          expect(out.every(Number.isFinite)).toBe(true);
        };
        await step();
        const before = transferStatsOf(backend);
        await step();
        const after = transferStatsOf(backend);
        for (const b of buffers) storage.release(b);
        return {
          toDevice: after.bytesToDevice - before.bytesToDevice,
          fromDevice: after.bytesFromDevice - before.bytesFromDevice,
        };
      }

      it.skipIf(skip)(
        `one decode step moves the same bytes at ${lengths[0]} and ${lengths[1]} cached tokens${why}`,
        async () => {
          const small = await decodeStepBytes(lengths[0]!);
          const large = await decodeStepBytes(lengths[1]!);
          expect(large).toEqual(small);
          // Exactly: the new token's fp16 K and V rows, the query, one new location word per
          // stream up; the output and the attention kernels' error word down.
          expect(small).toEqual({
            toDevice: 2 * C * 2 + 4 * hidden + 2 * 4,
            fromDevice: 4 * hidden + 4,
          });
        },
      );
    });
  });
}
