import { cpuReferenceBackend } from '@skvq/backend-cpu';
import { type AttentionAttrs, type Kernels, type KvGeometry, queryHidden } from '@skvq/core';
import { expect, test, vi } from 'vitest';
import { createWebgpuBackend } from '../src/index.js';
import { describeWebgpu, probeWebgpu, rng } from './helpers.js';
import { cacheFixture } from './segments-fixture.js';

// The oracle's kernels are synchronous; the contract's type allows a promise.
const attendDecodeReference = cpuReferenceBackend.kernels.attendDecode as (
  ...args: Parameters<NonNullable<Kernels['attendDecode']>>
) => Float32Array;
const attendPrefillReference = cpuReferenceBackend.kernels.attendPrefill as (
  ...args: Parameters<NonNullable<Kernels['attendPrefill']>>
) => Float32Array;

const probe = await probeWebgpu();

/**
 * Float32 GPU attention (scores, exp, sums, accumulations in float32, RoPE from float32
 * tables) against the float64 reference: relative to the output's scale, a few float32
 * roundings per term over a few hundred terms stay far below 1e-4.
 */
const ATTENTION_TOLERANCE = 1e-4;

function maxRelativeError(got: Float32Array, want: Float32Array): number {
  let scale = 0;
  for (const w of want) scale = Math.max(scale, Math.abs(w));
  let err = 0;
  for (let i = 0; i < want.length; i++)
    err = Math.max(err, Math.abs((got[i] as number) - (want[i] as number)));
  return err / scale;
}

const GEOMETRIES: { name: string; geometry: KvGeometry }[] = [
  {
    name: 'GQA 4/2, pairwise RoPE',
    geometry: {
      layers: 1,
      queryHeads: 4,
      kvHeads: 2,
      headDim: 16,
      rope: { style: 'pairwise', theta: 10000 },
    },
  },
  {
    name: 'MHA 2/2, half RoPE',
    geometry: {
      layers: 1,
      queryHeads: 2,
      kvHeads: 2,
      headDim: 16,
      rope: { style: 'half', theta: 500000 },
    },
  },
];

describeWebgpu('attention (webgpu) vs cpu reference', probe, (backend) => {
  for (const { name, geometry } of GEOMETRIES) {
    const C = geometry.kvHeads * geometry.headDim;
    test(`decode, ${name}, SKVQ keys 2-bit / values ternary, fp8 meta, spans several chunks`, async () => {
      const random = rng(11);
      // Longer than one split-K chunk (4 x workgroup), so the reduce pass merges chunks.
      const length = 4 * backend.context().workgroupSize + 37;
      const cache = cacheFixture(random, C, length, {
        keyKind: 'token-group',
        kBits: 2,
        vBits: 1.5,
        meta: 'fp8e4m3',
      });
      const q = new Float32Array(queryHidden(geometry)).map(() => random() * 2 - 1);
      const attrs: AttentionAttrs = { geometry, keysPreRope: true };
      const inputs = { q, position: length - 1, ...cache };
      const sumsWant = new Float32Array(length);
      const sumsGot = new Float32Array(length);
      const want = attendDecodeReference({ ...inputs, attentionSums: sumsWant }, attrs);
      const got = await backend.kernels.attendDecode?.(
        { ...inputs, attentionSums: sumsGot },
        attrs,
      );
      expect(maxRelativeError(got as Float32Array, want)).toBeLessThan(ATTENTION_TOLERANCE);
      expect(maxRelativeError(sumsGot, sumsWant)).toBeLessThan(ATTENTION_TOLERANCE);
    });
  }

  test('decode, KIVI keys (channel blocks, post-RoPE) + token-group values, fp16 meta, custom scale', async () => {
    const geometry = GEOMETRIES[0]?.geometry as KvGeometry;
    const random = rng(12);
    const cache = cacheFixture(random, 32, 61, {
      keyKind: 'channel-block',
      kBits: 2,
      vBits: 4,
      meta: 'fp16',
    });
    const q = new Float32Array(queryHidden(geometry)).map(() => random() * 2 - 1);
    const attrs: AttentionAttrs = { geometry, keysPreRope: false, scale: 0.3 };
    const inputs = { q, position: 60, ...cache };
    const want = attendDecodeReference(inputs, attrs);
    const got = await backend.kernels.attendDecode?.(inputs, attrs);
    expect(maxRelativeError(got as Float32Array, want)).toBeLessThan(ATTENTION_TOLERANCE);
  });

  test('prefill: causal rows, 3-bit keys / 8-bit values, fp32 meta, with attention sums', async () => {
    const geometry = GEOMETRIES[0]?.geometry as KvGeometry;
    const random = rng(13);
    const length = 40;
    const cache = cacheFixture(random, 32, length, {
      keyKind: 'token-group',
      kBits: 3,
      vBits: 8,
      meta: 'fp32',
    });
    const count = 6;
    const start = length - count;
    const q = new Float32Array(count * queryHidden(geometry)).map(() => random() * 2 - 1);
    const attrs: AttentionAttrs = { geometry, keysPreRope: true };
    const sumsWant = new Float32Array(length);
    const sumsGot = new Float32Array(length);
    const want = attendPrefillReference(
      { q, start, count, ...cache, attentionSums: sumsWant },
      attrs,
    );
    const got = await backend.kernels.attendPrefill?.(
      { q, start, count, ...cache, attentionSums: sumsGot },
      attrs,
    );
    expect(maxRelativeError(got as Float32Array, want)).toBeLessThan(ATTENTION_TOLERANCE);
    expect(maxRelativeError(sumsGot, sumsWant)).toBeLessThan(ATTENTION_TOLERANCE);
  });

  test('a position held twice is rejected with INVALID_ARGUMENT', async () => {
    const geometry = GEOMETRIES[0]?.geometry as KvGeometry;
    const cache = cacheFixture(rng(14), 32, 20, {
      keyKind: 'token-group',
      kBits: 2,
      vBits: 2,
      meta: 'fp16',
    });
    const keys = [...cache.keys, cache.keys[0]!];
    const q = new Float32Array(queryHidden(geometry));
    await expect(
      backend.kernels.attendDecode?.(
        { q, position: 19, keys, values: cache.values, length: 20 },
        { geometry, keysPreRope: true },
      ) as Promise<Float32Array>,
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describeWebgpu('attention (webgpu) row batching', probe, () => {
  test('prefill split into several row batches by a small binding cap equals the unsplit run', async () => {
    const geometry = GEOMETRIES[0]?.geometry as KvGeometry;
    const random = rng(15);
    const length = 30;
    const cache = cacheFixture(random, 32, length, {
      keyKind: 'token-group',
      kBits: 2,
      vBits: 2,
      meta: 'fp16',
    });
    const count = 9;
    const q = new Float32Array(count * queryHidden(geometry)).map(() => random() * 2 - 1);
    const attrs: AttentionAttrs = { geometry, keysPreRope: true };
    // Per query row: partials 4 heads x 1 chunk x 18 floats = 288 bytes, attentionSums
    // scores 4 heads x 30 positions x 4 = 480 bytes; a 1500-byte cap allows 3 rows a batch.
    const small = createWebgpuBackend({ maxBindingBytes: 1500 });
    await small.init?.();
    try {
      const runs = vi.spyOn(small.context(), 'run');
      const sumsWant = new Float32Array(length);
      const sumsGot = new Float32Array(length);
      const want = attendPrefillReference(
        { q, start: length - count, count, ...cache, attentionSums: sumsWant },
        attrs,
      );
      const got = await small.kernels.attendPrefill?.(
        { q, start: length - count, count, ...cache, attentionSums: sumsGot },
        attrs,
      );
      expect(maxRelativeError(got as Float32Array, want)).toBeLessThan(ATTENTION_TOLERANCE);
      expect(maxRelativeError(sumsGot, sumsWant)).toBeLessThan(ATTENTION_TOLERANCE);
      expect(runs).toHaveBeenCalledTimes(3);
    } finally {
      await small.dispose?.();
    }
  });
});
