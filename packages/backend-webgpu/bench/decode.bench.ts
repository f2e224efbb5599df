import {
  BENCH_SINKS,
  BENCH_WINDOW,
  benchDenseStream,
  benchPackedStream,
  benchRows,
} from '@skvq/backend-conformance';
import type { AttentionAttrs, KvGeometry, KvSegment } from '@skvq/core';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { createWebgpuBackend, type WebgpuBackend } from '../src/index.js';

/**
 * One decode step of a Llama-2-7B layer (32 query heads = 32 KV heads, head dim 128):
 * fused attention over SKVQ pages (K 2 bits, V ternary 1.6 bits, fp8 meta, groups of 128
 * over a permuted order, keys pre-RoPE) + 5 fp32 sinks + a 128-token fp32 window, against
 * dense fp32 attention (every token an fp32 segment, the same split-K kernel reading
 * floats). Bindings are capped by maxStorageBufferBindingSize (128 MiB on Mesa), so both
 * variants run the layer in slices of heads that fit and the time is the sum of the slices.
 *
 * Lengths: SKVQ_BENCH_LENGTHS (comma separated), default 32768,131072. On Mesa's CPU path
 * (llvmpipe, 2 cores here) each step takes seconds; the numbers say how the kernels scale,
 * not how fast a GPU is.
 */
const HEADS = 32;
const HEAD_DIM = 128;
const LENGTHS = (process.env.SKVQ_BENCH_LENGTHS ?? '32768,131072')
  .split(',')
  .map((s) => Number.parseInt(s, 10));
const BENCH_OPTIONS = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };

/** Bytes a decode step reads from one stream (what the kernel binds). */
function streamBytes(segments: readonly KvSegment[]): number {
  let bytes = 0;
  for (const s of segments)
    bytes += s.kind === 'fp' ? s.data.byteLength : s.codes.byteLength + s.meta.byteLength;
  return bytes;
}

/** Heads per call so that one stream of fp32 [length, heads * headDim] fits one binding. */
function headsPerSlice(backend: WebgpuBackend, length: number): number {
  const limit = backend.context().device.limits.maxStorageBufferBindingSize;
  let heads = HEADS;
  while (heads > 1 && length * heads * HEAD_DIM * 4 + 16 > limit) heads /= 2;
  return heads;
}

let backend: WebgpuBackend;
beforeAll(async () => {
  backend = createWebgpuBackend();
  await backend.init?.();
});
afterAll(() => backend?.dispose?.());

for (const length of LENGTHS) {
  describe(`decode step, 7B layer (32 heads x 128), ${length} tokens`, () => {
    for (const variant of ['fused SKVQ K2/V1.5', 'dense fp32'] as const) {
      bench(
        variant,
        async () => {
          const heads = headsPerSlice(backend, length);
          const geometry: KvGeometry = {
            layers: 1,
            queryHeads: heads,
            kvHeads: heads,
            headDim: HEAD_DIM,
            rope: { style: 'pairwise', theta: 10000 },
          };
          const attrs: AttentionAttrs = { geometry, keysPreRope: variant !== 'dense fp32' };
          const channels = heads * HEAD_DIM;
          const keys =
            variant === 'dense fp32'
              ? benchDenseStream(length, channels, 1)
              : benchPackedStream(length, channels, 2, 1);
          const values =
            variant === 'dense fp32'
              ? benchDenseStream(length, channels, 2)
              : benchPackedStream(length, channels, 1.5, 2);
          const q = benchRows(3, 1, channels);
          // Untimed warm-up on a short cache: compiles the pipelines of this shape.
          const warm = BENCH_SINKS + BENCH_WINDOW + 64;
          await backend.kernels.attendDecode?.(
            {
              q,
              position: warm - 1,
              length: warm,
              ...(variant === 'dense fp32'
                ? {
                    keys: benchDenseStream(warm, channels, 1),
                    values: benchDenseStream(warm, channels, 2),
                  }
                : {
                    keys: benchPackedStream(warm, channels, 2, 1),
                    values: benchPackedStream(warm, channels, 1.5, 2),
                  }),
            },
            attrs,
          );
          let elapsed = 0;
          for (let slice = 0; slice < HEADS / heads; slice++) {
            const t0 = performance.now();
            await backend.kernels.attendDecode?.(
              { q, position: length - 1, keys, values, length },
              attrs,
            );
            elapsed += performance.now() - t0;
          }
          const mib = ((streamBytes(keys) + streamBytes(values)) * (HEADS / heads)) / 2 ** 20;
          console.log(
            `${length} tokens, ${variant}: ${elapsed.toFixed(0)} ms per decode step (${HEADS / heads} slices of ${heads} heads), K+V bytes read ${mib.toFixed(1)} MiB`,
          );
        },
        BENCH_OPTIONS,
      );
    }
  });
}
