import {
  ATTENTION_RELATIVE_TOLERANCE,
  attentionCaseSpecs,
  buildAttentionCase,
  channelBlockLayout,
  prefillCaseSpecs,
  randomTokenGroupLayout,
  randomTokens,
  relativeError,
  toFp16,
} from '@skvq/backend-conformance';
import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type BackendStorage,
  type BitWidth,
  isSkvqError,
  type MetaFormat,
  metaBytesPerUnit,
  mulberry32,
  rowCodeBytes,
  type StoreRows,
} from '@skvq/core';
import { fp16Table, quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import { expect, test } from 'vitest';
import { describeModes } from './helpers.js';
import { bytesOf, storeBytes, toStoreSegments } from './store-helpers.js';

const BITS: BitWidth[] = [8, 4, 3, 2, 1.5];
const METAS: MetaFormat[] = ['fp32', 'fp16', 'fp8e4m3'];

await describeModes('backend-owned storage', (backend, mode) => {
  const storage = () => backend.storage as BackendStorage;

  test(`[${mode}] is a device storage with store kernels`, () => {
    expect(storage().residence).toBe('device');
    expect(typeof storage().kernels?.attend).toBe('function');
    expect(backend.mode()).toBe(mode);
  });

  test.each([true, false])(
    'writes (direct texel writes: %s), copies and reads round-trip at any byte offset',
    (direct) => {
      backend.context().directWrites = direct;
      const s = storage();
      const rng = mulberry32(11);
      const a = s.allocate(84, 'codes');
      const b = s.allocate(40, 'meta');
      const mirrorA = new Uint8Array(84);
      const mirrorB = new Uint8Array(40);
      expect(
        Array.from(s.read({ buffer: a, byteOffset: 0, byteLength: 84 }) as Uint8Array),
      ).toEqual(Array.from(mirrorA));
      for (const [off, len] of [
        [0, 4],
        [1, 1],
        [3, 10],
        [6, 2],
        [17, 30],
        [83, 1],
        [16, 48],
        [8, 8],
        [0, 84],
        [40, 0],
      ] as const) {
        const data = Uint8Array.from({ length: len }, () => Math.floor(rng() * 256));
        s.write(a, off, data);
        mirrorA.set(data, off);
        expect(
          Array.from(s.read({ buffer: a, byteOffset: 0, byteLength: 84 }) as Uint8Array),
        ).toEqual(Array.from(mirrorA));
      }
      for (const [src, dst, len] of [
        [0, 0, 40],
        [1, 4, 7],
        [4, 1, 9],
        [33, 19, 20],
        [50, 39, 1],
      ] as const) {
        s.copy({ buffer: a, byteOffset: src, byteLength: len }, b, dst);
        mirrorB.set(mirrorA.subarray(src, src + len), dst);
        expect(
          Array.from(s.read({ buffer: b, byteOffset: 0, byteLength: 40 }) as Uint8Array),
        ).toEqual(Array.from(mirrorB));
      }
      // Within one buffer, overlapping: the copy reads the buffer as it was before.
      s.copy({ buffer: a, byteOffset: 5, byteLength: 30 }, a, 8);
      mirrorA.copyWithin(8, 5, 35);
      expect(
        Array.from(s.read({ buffer: a, byteOffset: 3, byteLength: 50 }) as Uint8Array),
      ).toEqual(Array.from(mirrorA.subarray(3, 53)));
      s.release(a);
      s.release(b);
      backend.context().directWrites = true;
    },
  );

  test('buffers of one size never share a texture (in-place writes stay in their buffer)', () => {
    // gpu.js's immutable outputs are copy-on-write clones of the kernel's own texture; a
    // texel written in place must still land in exactly one buffer.
    const s = storage();
    const bufs = [0, 1, 2].map(() => s.allocate(64, 'fp'));
    const mirrors = bufs.map(() => new Uint8Array(64));
    const rng = mulberry32(5);
    for (let round = 0; round < 6; round++) {
      const k = round % 3;
      const data = Uint8Array.from({ length: 16 }, () => Math.floor(rng() * 256));
      // Even rounds: whole texels (in place on GL); odd rounds: unaligned (write kernel).
      const at = round % 2 === 0 ? 16 : 5;
      s.write(bufs[k]!, at, data);
      mirrors[k]!.set(data, at);
      s.copy({ buffer: bufs[(k + 1) % 3]!, byteOffset: 0, byteLength: 8 }, bufs[(k + 2) % 3]!, 40);
      mirrors[(k + 2) % 3]!.set(mirrors[(k + 1) % 3]!.subarray(0, 8), 40);
      for (const [i, b] of bufs.entries()) {
        const got = s.read({ buffer: b, byteOffset: 0, byteLength: 64 }) as Uint8Array;
        expect(Array.from(got), `round ${round}, buffer ${i}`).toEqual(Array.from(mirrors[i]!));
      }
    }
    for (const b of bufs) s.release(b);
  });

  test('transfers count what crosses: a write uploads about its bytes, a copy nothing', () => {
    const s = storage();
    const buf = s.allocate(1 << 16, 'fp');
    const t0 = s.transferStats();
    s.write(buf, 100, new Uint8Array(64).fill(9));
    const t1 = s.transferStats();
    expect(t1.bytesToDevice - t0.bytesToDevice).toBeGreaterThanOrEqual(64);
    expect(t1.bytesToDevice - t0.bytesToDevice).toBeLessThan(1024);
    expect(t1.bytesFromDevice).toBe(t0.bytesFromDevice);
    s.copy({ buffer: buf, byteOffset: 100, byteLength: 64 }, buf, 40000);
    const t2 = s.transferStats();
    expect(t2).toEqual(t1);
    const back = s.read({ buffer: buf, byteOffset: 40000, byteLength: 64 }) as Uint8Array;
    expect(Array.from(back)).toEqual(new Array(64).fill(9));
    const t3 = s.transferStats();
    expect(t3.bytesFromDevice - t2.bytesFromDevice).toBeGreaterThanOrEqual(64);
    expect(t3.bytesFromDevice - t2.bytesFromDevice).toBeLessThan(2048);
    expect(backend.transferStats?.()).toEqual(t3);
    s.release(buf);
  });

  test('bad buffers and ranges are typed errors', () => {
    const s = storage();
    const buf = s.allocate(16, 'codes');
    const bad = [
      () => s.allocate(6, 'codes'),
      () => s.allocate(8, 'other' as never),
      () => s.write(buf, 10, new Uint8Array(7)),
      () => s.read({ buffer: buf, byteOffset: 12, byteLength: 5 }),
      () => s.read({ buffer: { byteLength: 16 }, byteOffset: 0, byteLength: 4 }),
    ];
    for (const f of bad) {
      let error: unknown;
      try {
        f();
      } catch (e) {
        error = e;
      }
      expect(isSkvqError(error), String(error)).toBe(true);
    }
    s.release(buf);
    expect(() => s.write(buf, 0, new Uint8Array(4))).toThrow(/released/);
  });

  test('store attend equals the CPU reference on every conformance case (decode and prefill)', async () => {
    const s = storage();
    for (const spec of [...attentionCaseSpecs(), ...prefillCaseSpecs()]) {
      const c = buildAttentionCase(spec);
      const attrs = { geometry: c.geometry, keysPreRope: c.spec.keysPreRope, scale: c.spec.scale };
      const prefill = c.spec.prefill;
      const start = prefill?.start ?? c.length - 1;
      const rows = prefill?.count ?? 1;
      const wantSums = new Float32Array(c.length);
      const want = prefill
        ? await cpuReferenceBackend.kernels.attendPrefill!(
            {
              q: c.q,
              start,
              count: rows,
              keys: c.keys,
              values: c.values,
              length: c.length,
              attentionSums: wantSums,
            },
            attrs,
          )
        : await cpuReferenceBackend.kernels.attendDecode!(
            {
              q: c.q,
              position: start,
              keys: c.keys,
              values: c.values,
              length: c.length,
              attentionSums: wantSums,
            },
            attrs,
          );
      const keys = toStoreSegments(s, c.keys);
      const values = toStoreSegments(s, c.values);
      const gotSums = new Float32Array(c.length);
      const got = await s.kernels!.attend(
        {
          q: c.q,
          start,
          rows,
          causal: prefill !== undefined,
          keys,
          values,
          length: c.length,
          attentionSums: gotSums,
        },
        attrs,
      );
      expect(relativeError(got, want), spec.name).toBeLessThanOrEqual(ATTENTION_RELATIVE_TOLERANCE);
      expect(relativeError(gotSums, wantSums), `${spec.name} (sums)`).toBeLessThanOrEqual(
        ATTENTION_RELATIVE_TOLERANCE,
      );
      for (const seg of [...keys, ...values]) {
        if (seg.kind === 'fp') s.release(seg.data.buffer);
        else {
          s.release(seg.codes.buffer);
          s.release(seg.meta.buffer);
        }
      }
    }
  }, 600_000);

  test('store quantizeTokens writes the reference bytes, from host rows and from rows in the store', async () => {
    const s = storage();
    const rng = mulberry32(21);
    const fp16 = fp16Table();
    for (const bits of BITS) {
      for (const meta of METAS) {
        const C = 37;
        const count = 5;
        const layout = randomTokenGroupLayout(rng, {
          channels: C,
          bits,
          meta,
          groupSize: 6,
          perm: true,
        });
        const x = randomTokens(rng, count, C);
        const half = toFp16(x);
        const xHalf = Float32Array.from(half, (h) => fp16[h] as number);
        const sources: [string, Float32Array | StoreRows, Float32Array][] = [
          ['host rows', x, x],
          [
            'fp32 rows in the store',
            { view: storeBytes(s, bytesOf(x), 2, 'fp'), precision: 'fp32' },
            x,
          ],
          [
            'fp16 rows in the store',
            { view: storeBytes(s, bytesOf(half), 6, 'fp'), precision: 'fp16' },
            xHalf,
          ],
        ];
        for (const [what, src, ref] of sources) {
          const want = {
            codes: new Uint8Array(count * rowCodeBytes(layout)),
            meta: new Uint8Array(count * metaBytesPerUnit(layout)),
          };
          quantizeTokensReference(layout, ref, count, want.codes, 0, want.meta, 0);
          const codes = storeBytes(s, new Uint8Array(want.codes.length).fill(0xa5), 1, 'codes');
          const metaView = storeBytes(s, new Uint8Array(want.meta.length).fill(0x5a), 3, 'meta');
          await s.kernels!.quantizeTokens!({ layout, x: src, count, codes, meta: metaView });
          const label = `${bits} bits, ${meta}, ${what}`;
          expect(Array.from((await s.read(codes)) as Uint8Array), label).toEqual(
            Array.from(want.codes),
          );
          expect(Array.from((await s.read(metaView)) as Uint8Array), label).toEqual(
            Array.from(want.meta),
          );
          // The bytes around the views are untouched.
          const around = (await s.read({
            buffer: codes.buffer,
            byteOffset: 0,
            byteLength: 1,
          })) as Uint8Array;
          expect(around[0]).toBe(0);
        }
      }
    }
  }, 600_000);

  test('store quantizeBlock (KIVI keys) writes the reference bytes', async () => {
    const s = storage();
    const rng = mulberry32(22);
    for (const bits of BITS) {
      const layout = channelBlockLayout(19, bits, 'fp8e4m3', 4);
      const x = randomTokens(rng, 4, 19);
      const want = {
        codes: new Uint8Array(4 * rowCodeBytes(layout)),
        meta: new Uint8Array(metaBytesPerUnit(layout)),
      };
      quantizeBlockReference(layout, x, 0, want.codes, 0, want.meta, 0);
      for (const src of [
        x,
        { view: storeBytes(s, bytesOf(x), 0, 'fp'), precision: 'fp32' as const },
      ]) {
        const codes = storeBytes(s, new Uint8Array(want.codes.length), 3, 'codes');
        const meta = storeBytes(s, new Uint8Array(want.meta.length), 2, 'meta');
        await s.kernels!.quantizeBlock!({ layout, x: src, codes, meta });
        expect(Array.from((await s.read(codes)) as Uint8Array), `${bits} bits`).toEqual(
          Array.from(want.codes),
        );
        expect(Array.from((await s.read(meta)) as Uint8Array)).toEqual(Array.from(want.meta));
      }
    }
  }, 600_000);

  test('a metadata range error writes nothing to the store', async () => {
    const s = storage();
    const layout = randomTokenGroupLayout(mulberry32(3), {
      channels: 4,
      bits: 2,
      meta: 'fp8e4m3',
      groupSize: 4,
    });
    const codes = storeBytes(s, new Uint8Array(4).fill(7), 0, 'codes');
    const meta = storeBytes(s, new Uint8Array(8).fill(7), 0, 'meta');
    const x = new Float32Array([-1e6, 0, 1, 2]); // beyond fp8 E4M3's range (448)
    expect(() => s.kernels!.quantizeTokens!({ layout, x, count: 1, codes, meta })).toThrow();
    expect(Array.from((await s.read(codes)) as Uint8Array)).toEqual([7, 7, 7, 7]);
    expect(Array.from((await s.read(meta)) as Uint8Array)).toEqual(new Array(8).fill(7));
  });
});
