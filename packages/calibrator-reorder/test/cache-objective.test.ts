import { type KvGeometry, mulberry32, type TokenGroupLayout } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import {
  type AttentionSegment,
  cacheAttention,
  causalAttention,
  ropeRows,
  searchClipRatio,
} from '../src/index.js';

const geometry: KvGeometry = {
  layers: 1,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 8,
  rope: { style: 'pairwise', theta: 10000 },
};

function segment(count: number, seed: number): AttentionSegment {
  const r = mulberry32(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  const k = fill(count * 16);
  // an outlier channel, so that clipping matters
  for (let t = 0; t < count; t++) k[t * 16 + 3] = 8 * (r() * 2 - 1);
  return {
    count,
    q: fill(count * 32),
    k,
    v: fill(count * 16),
    positions: Int32Array.from({ length: count }, (_, i) => i),
  };
}

const layout: TokenGroupLayout = {
  kind: 'token-group',
  channels: 16,
  bits: 2,
  meta: 'fp16',
  perm: null,
  groupOffsets: Uint32Array.of(0, 8, 16),
  alpha: 1,
};

describe('cache objective (window and sinks at full precision)', () => {
  const s = segment(40, 7);
  const qRot = ropeRows(geometry, s.q, 4, s.positions);
  const kRot = ropeRows(geometry, s.k, 2, s.positions);
  const r = mulberry32(9);
  const kAlt = ropeRows(
    geometry,
    s.k.map((x) => x + r() - 0.5),
    2,
    s.positions,
  );
  const vAlt = s.v.map((x) => x + r() - 0.5);

  it('window 0, sinks 0 reads every token from the quantized arrays', () => {
    const all = { protocol: 'decode', window: 0, sinks: 0 } as const;
    const got = cacheAttention(geometry, 40, qRot, kRot, kAlt, s.v, vAlt, s.positions, all);
    const want = causalAttention(geometry, 40, qRot, kAlt, vAlt, s.positions);
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 12);
  });

  it('a window as long as the segment reads nothing quantized', () => {
    const none = { protocol: 'decode', window: 40, sinks: 0 } as const;
    const got = cacheAttention(geometry, 40, qRot, kRot, kAlt, s.v, vAlt, s.positions, none);
    const want = causalAttention(geometry, 40, qRot, kRot, s.v, s.positions);
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 12);
  });

  it('decode: query t reads its last W tokens and the sinks exactly, older ones quantized', () => {
    const w = { protocol: 'decode', window: 4, sinks: 2 } as const;
    const got = cacheAttention(geometry, 40, qRot, kRot, kAlt, s.v, vAlt, s.positions, w);
    // query 20 by hand: tokens 0, 1 (sinks) and 17..20 exact, 2..16 quantized
    const mixK = kRot.slice();
    const mixV = s.v.slice();
    for (let j = 2; j <= 16; j++) {
      mixK.set(kAlt.subarray(j * 16, (j + 1) * 16), j * 16);
      mixV.set(vAlt.subarray(j * 16, (j + 1) * 16), j * 16);
    }
    const want = causalAttention(geometry, 40, qRot, mixK, mixV, s.positions);
    for (let d = 0; d < 32; d++) expect(got[20 * 32 + d]).toBeCloseTo(want[20 * 32 + d]!, 12);
    // prefill: the window is the segment's last 4 tokens for every query
    const p = { protocol: 'prefill', window: 4, sinks: 2 } as const;
    const pre = cacheAttention(geometry, 40, qRot, kRot, kAlt, s.v, vAlt, s.positions, p);
    const mixK2 = kAlt.slice();
    const mixV2 = vAlt.slice();
    for (const j of [0, 1, 36, 37, 38, 39]) {
      mixK2.set(kRot.subarray(j * 16, (j + 1) * 16), j * 16);
      mixV2.set(s.v.subarray(j * 16, (j + 1) * 16), j * 16);
    }
    const want2 = causalAttention(geometry, 40, qRot, mixK2, mixV2, s.positions);
    for (let i = 0; i < want2.length; i++) expect(pre[i]).toBeCloseTo(want2[i]!, 12);
  });

  it('the clip search with a cache objective measures less error than with every token quantized', () => {
    const grid = [0.6, 0.8, 1];
    const all = searchClipRatio({ geometry, segments: [s], stream: 'k', layout, grid });
    const cached = searchClipRatio({
      geometry,
      segments: [s],
      stream: 'k',
      layout,
      grid,
      objective: { protocol: 'decode', window: 8, sinks: 2 },
    });
    for (let i = 0; i < grid.length; i++) expect(cached.errors[i]!).toBeLessThan(all.errors[i]!);
  });

  it('rejects a malformed objective with INVALID_ARGUMENT', () => {
    expect(() =>
      searchClipRatio({
        geometry,
        segments: [s],
        stream: 'k',
        layout,
        objective: { protocol: 'decode', window: -1, sinks: 0 },
      }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
