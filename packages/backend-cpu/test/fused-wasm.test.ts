import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BitWidth,
  decodeJob,
  type KvSegment,
  kvHidden,
  type MetaFormat,
  metaBytesPerUnit,
  queryHidden,
  rowCodeBytes,
  SkvqError,
} from '@skvq/core';
import { checkAttendJob } from '@skvq/formats';
import { describe, expect, it } from 'vitest';
import { assembleWat } from '../scripts/assemble-wat.mjs';
import { attendDecodeFast } from '../src/fast-attention.js';
import {
  attendDecodeFusedPartial,
  combineDecodePartials,
  FUSED_CHUNK_TOKENS,
} from '../src/fused-decode.js';
import { PACKED_CHUNK_TOKENS } from '../src/fused-packed.js';
import { cpuBackend, createCpuBackend } from '../src/index.js';
import { attendDecodeReference } from '../src/reference-attention.js';
import { FUSED_ATTENTION_WASM_BASE64 } from '../src/wasm-bytes.js';
import { fusedAttentionWasm } from '../src/wasm-module.js';
import {
  geometry,
  normals,
  type Piece,
  relErr,
  rng,
  segments,
  tokenGroupLayout,
} from './helpers.js';

/** Same bound as fast-vs-reference.test.ts: float32 scores against the float64 oracle. */
const FAST_TOLERANCE = 1e-5;

describe('WebAssembly module', () => {
  it('the committed bytes are the assembled wasm/fused-attention.wat (run pnpm build:wasm)', async () => {
    const wat = await readFile(join(import.meta.dirname, '../wasm/fused-attention.wat'), 'utf8');
    expect(await assembleWat(wat)).toBe(FUSED_ATTENTION_WASM_BASE64);
  });

  it('the cpu backend init() prepares it asynchronously', async () => {
    await cpuBackend.init?.();
    expect(fusedAttentionWasm()).not.toBeNull();
  });

  it('instantiates under Node 20 (SIMD available); createCpuBackend({ fused: false }) stays in JavaScript', () => {
    expect(fusedAttentionWasm()).not.toBeNull();
    // The thread count (or why there is one thread) follows the engine.
    expect(cpuBackend.label?.()).toMatch(/^cpu \(WebAssembly SIMD decode(, |\))/);
    const plain = createCpuBackend({ fused: false });
    expect(plain.name).toBe('cpu');
    expect(plain.init).toBeUndefined();
    expect(plain.label?.()).toMatch(/^cpu \(JavaScript(, |\))/);
  });
});

describe('fused decode (WebAssembly) against the reference and the JavaScript path', () => {
  // Packed counts that are not multiples of the 4-token block, and that span several chunks.
  const packedCount = PACKED_CHUNK_TOKENS + 13;
  const cases: Array<{ bits: BitWidth; meta: MetaFormat; kind: 'token-group' | 'channel-block' }> =
    [
      { bits: 2, meta: 'fp8e4m3', kind: 'token-group' },
      { bits: 1.5, meta: 'fp16', kind: 'token-group' },
      { bits: 4, meta: 'fp32', kind: 'token-group' },
      { bits: 8, meta: 'fp8e4m3', kind: 'token-group' },
      { bits: 3, meta: 'fp16', kind: 'token-group' },
      { bits: 2, meta: 'fp16', kind: 'channel-block' },
    ];
  let seed = 500;
  for (const { bits, meta, kind } of cases) {
    for (const [qh, kvh, style, preRope] of [
      [4, 4, 'pairwise', true],
      [4, 2, 'half', true],
      [2, 1, 'pairwise', false],
      [2, 2, 'none', true],
      // Keys stored after RoPE: the quantized-domain key kernel (packedKeysPost).
      [4, 4, 'pairwise', false],
      [4, 2, 'half', false],
    ] as const) {
      const caseSeed = seed++;
      it(`${bits} bits ${meta} ${kind}, ${qh}q/${kvh}kv ${style}, keys ${preRope ? 'pre' : 'post'}-RoPE`, () => {
        const r = rng(caseSeed);
        const g = geometry(qh, kvh, 8, style);
        const channels = kvHidden(g);
        const count = kind === 'channel-block' ? 8 * 34 : packedCount;
        const sinks = 3;
        const window = FUSED_CHUNK_TOKENS + 5;
        const length = sinks + count + window;
        const packed = (): Piece => ({
          kind: 'packed',
          count,
          layout:
            kind === 'token-group'
              ? tokenGroupLayout(r, channels, bits, meta, 3)
              : { kind: 'channel-block', channels, bits, meta, blockTokens: 8, alpha: 1 },
        });
        const pieces = (): Piece[] => [
          { kind: 'fp32', count: sinks },
          packed(),
          { kind: 'fp16', count: window },
        ];
        const keys = segments(normals(r, length * channels, 2), g, pieces());
        const values = segments(normals(r, length * channels), g, pieces());
        const attrs = { geometry: g, keysPreRope: preRope };
        const sums = [new Float32Array(length), new Float32Array(length), new Float32Array(length)];
        const inputs = (i: number) => ({
          q: qv,
          position: length - 1,
          keys,
          values,
          length,
          attentionSums: sums[i],
        });
        const qv = normals(r, queryHidden(g));
        const fused = attendDecodeFast(inputs(0), attrs);
        const js = attendDecodeFast(inputs(1), attrs, { fused: false });
        const ref = attendDecodeReference(inputs(2), attrs);
        expect(relErr(fused, ref)).toBeLessThan(FAST_TOLERANCE);
        expect(relErr(js, ref)).toBeLessThan(FAST_TOLERANCE);
        expect(relErr(sums[0] as Float32Array, sums[2] as Float32Array)).toBeLessThan(
          FAST_TOLERANCE,
        );
      });
    }
  }

  it('a permuted layout with positions out of order still lands every score on its position', () => {
    const r = rng(9);
    const g = geometry(4, 4, 8, 'pairwise');
    const channels = kvHidden(g);
    const length = 23;
    const keys = segments(normals(r, length * channels), g, [
      { kind: 'packed', count: length, layout: tokenGroupLayout(r, channels, 2, 'fp8e4m3', 4) },
    ]);
    const values = segments(normals(r, length * channels), g, [
      { kind: 'packed', count: length, layout: tokenGroupLayout(r, channels, 1.5, 'fp8e4m3', 4) },
    ]);
    // Reverse the stored order of both streams: token i of the page is position length-1-i.
    const reversed = (s: KvSegment): KvSegment => ({
      ...s,
      positions: Int32Array.from(s.positions, (p) => length - 1 - p),
    });
    const inputs = {
      q: normals(r, queryHidden(g)),
      position: length + 7,
      keys: keys.map(reversed),
      values: values.map(reversed),
      length,
    };
    const attrs = { geometry: g, keysPreRope: true };
    expect(
      relErr(attendDecodeFast(inputs, attrs), attendDecodeReference(inputs, attrs)),
    ).toBeLessThan(FAST_TOLERANCE);
  });

  it('an invalid ternary byte is rejected by the fused path as by the row decoder', () => {
    const r = rng(11);
    const g = geometry(2, 2, 8, 'pairwise');
    const channels = kvHidden(g);
    const length = 9;
    const layout = tokenGroupLayout(r, channels, 1.5, 'fp16', 2);
    const values = segments(normals(r, length * channels), g, [
      { kind: 'packed', count: length, layout },
    ]);
    const page = values[0] as Extract<KvSegment, { kind: 'packed' }>;
    page.codes[5 * 4 + 1] = 250; // token 5 of rows of ceil(16 / 5) = 4 bytes
    const keys = segments(normals(r, length * channels), g, [{ kind: 'fp32', count: length }]);
    const call = () =>
      attendDecodeFast(
        { q: normals(r, queryHidden(g)), position: length - 1, keys, values, length },
        { geometry: g, keysPreRope: true },
      );
    expect(call).toThrow(SkvqError);
    expect(call).toThrow(/ternary byte 250/);
  });
});

describe('partial softmax entry (attendDecodeFusedPartial + combineDecodePartials)', () => {
  /** Tokens first .. first+count-1 of a segment, as a segment of their own. */
  function slice(seg: KvSegment, first: number, count: number, channels: number): KvSegment {
    const positions = seg.positions.subarray(first, first + count);
    if (seg.kind === 'packed') {
      const rb = rowCodeBytes(seg.layout);
      const mb = metaBytesPerUnit(seg.layout);
      return {
        ...seg,
        count,
        positions,
        codes: seg.codes.subarray(first * rb, (first + count) * rb),
        meta: seg.meta.subarray(first * mb, (first + count) * mb),
      };
    }
    const data = seg.data.subarray(first * channels, (first + count) * channels);
    return { ...seg, count, positions, data } as KvSegment;
  }

  for (const preRope of [true, false]) {
    it(`subsets of the positions merge into the full decode (keys ${preRope ? 'pre' : 'post'}-RoPE)`, () => {
      const r = rng(preRope ? 41 : 42);
      const g = geometry(4, 2, 8, 'half');
      const channels = kvHidden(g);
      const sinks = 3;
      const count = PACKED_CHUNK_TOKENS + 37;
      const window = 21;
      const length = sinks + count + window;
      const pieces = (bits: BitWidth): Piece[] => [
        { kind: 'fp32', count: sinks },
        { kind: 'packed', count, layout: tokenGroupLayout(r, channels, bits, 'fp8e4m3', 5) },
        { kind: 'fp16', count: window },
      ];
      const keys = segments(normals(r, length * channels, 2), g, pieces(2));
      const values = segments(normals(r, length * channels), g, pieces(1.5));
      const q = normals(r, queryHidden(g));
      const attrs = { geometry: g, keysPreRope: preRope };
      const inputs = { q, position: length - 1, keys, values, length };
      const checked = checkAttendJob(decodeJob(inputs), attrs, 'test');
      const full = attendDecodeFast(inputs, attrs);
      // Three workers: sinks + window, the first 100 packed tokens, the rest of the page.
      const split = (segs: KvSegment[]) => [
        [segs[0] as KvSegment, segs[2] as KvSegment],
        [slice(segs[1] as KvSegment, 0, 100, channels)],
        [slice(segs[1] as KvSegment, 100, count - 100, channels)],
      ];
      const ks = split(keys);
      const vs = split(values);
      const parts = ks.map((k, i) => attendDecodeFusedPartial(q, length - 1, k, vs[i]!, checked));
      expect(parts.map((p) => p.rows)).toEqual([sinks + window, 100, count - 100]);
      const merged = combineDecodePartials(parts, g.queryHeads, g.headDim);
      // The same subsets as one list: pages sharing a layout (tables laid out once).
      const listed = attendDecodeFast({ ...inputs, keys: ks.flat(), values: vs.flat() }, attrs);
      expect(relErr(listed, full)).toBeLessThan(1e-6);
      expect(relErr(merged, full)).toBeLessThan(1e-6);
      expect(relErr(merged, attendDecodeReference(inputs, attrs))).toBeLessThan(FAST_TOLERANCE);
      // An empty subset contributes nothing.
      const empty = attendDecodeFusedPartial(q, length - 1, [], [], checked);
      expect(empty.rows).toBe(0);
      expect(combineDecodePartials([...parts, empty], g.queryHeads, g.headDim)).toEqual(merged);
    });
  }

  it('values at positions the keys of the subset do not hold are rejected', () => {
    const r = rng(43);
    const g = geometry(4, 4, 8, 'pairwise');
    const channels = kvHidden(g);
    const keys = segments(normals(r, 10 * channels), g, [{ kind: 'fp32', count: 10 }]);
    const values = segments(normals(r, 10 * channels), g, [{ kind: 'fp32', count: 10 }]);
    const q = normals(r, queryHidden(g));
    const attrs = { geometry: g, keysPreRope: true };
    const checked = checkAttendJob(
      decodeJob({ q, position: 9, keys, values, length: 10 }),
      attrs,
      'test',
    );
    const half = slice(keys[0] as KvSegment, 0, 5, channels);
    expect(() => attendDecodeFusedPartial(q, 9, [half], values, checked)).toThrow(SkvqError);
  });
});
