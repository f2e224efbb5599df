import { benchPackedStream, benchRows } from '@skvq/backend-conformance';
import { cpuBackend } from '@skvq/backend-cpu';
import {
  type AttentionAttrs,
  type BackendPlugin,
  type KvGeometry,
  LLAMA2_7B_LAYER,
} from '@skvq/core';
import { bench, describe } from 'vitest';
import type { GpujsMode } from '../src/index.js';
import { probeMode } from '../test/helpers.js';

/**
 * One decode step of a Llama-2-7B layer (32 query heads = 32 KV heads, head dim 128): fused
 * attention over SKVQ pages (K 2 bits, V ternary, fp8 meta, groups of 128 over a permuted
 * order, keys pre-RoPE) + 5 fp32 sinks + a 128-token fp32 window, on every gpu.js mode Node
 * offers here against the CPU backend (`cpu`: its fused WebAssembly SIMD kernel) on the
 * same segments. Contestants run interleaved, REPS rounds, and the median per contestant is
 * printed with its ratio to the CPU backend measured in the same run.
 *
 * Lengths: SKVQ_BENCH_LENGTHS (comma separated), default 4096,32768. Modes:
 * SKVQ_BENCH_GPUJS_MODES, default cpu,webasm,headlessgl (headless-gl needs its gl build and Xvfb).
 */
const REPS = Number.parseInt(process.env.SKVQ_BENCH_REPS ?? '3', 10);
const LENGTHS = (process.env.SKVQ_BENCH_LENGTHS ?? '4096,32768').split(',').map(Number);
const MODES = (process.env.SKVQ_BENCH_GPUJS_MODES ?? 'cpu,webasm,headlessgl').split(
  ',',
) as GpujsMode[];
const CHANNELS = LLAMA2_7B_LAYER.queryHeads * LLAMA2_7B_LAYER.headDim;
const GEOMETRY: KvGeometry = LLAMA2_7B_LAYER;
const ATTRS: AttentionAttrs = { geometry: GEOMETRY, keysPreRope: true };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe('decode step, 7B layer (32 heads x 128), SKVQ K2/V1.5 pages', () => {
  bench(
    'gpu.js modes against the CPU backend, interleaved',
    async () => {
      const contestants: { name: string; backend: BackendPlugin }[] = [
        { name: 'cpu backend (WASM SIMD)', backend: cpuBackend },
      ];
      for (const mode of MODES) {
        const probe = await probeMode(mode);
        if (probe.backend === undefined)
          console.log(`gpujs ${mode}: not measured (${probe.reason})`);
        else contestants.push({ name: `gpujs ${mode}`, backend: probe.backend });
      }
      for (const length of LENGTHS) {
        const keys = benchPackedStream(length, CHANNELS, 2, 1);
        const values = benchPackedStream(length, CHANNELS, 1.5, 2);
        const q = benchRows(3, 1, CHANNELS);
        const inputs = { q, position: length - 1, keys, values, length };
        const times = contestants.map(() => [] as number[]);
        // Round 0 is an untimed warm-up (kernel compilation, table building).
        for (let rep = 0; rep <= REPS; rep++) {
          for (const [i, c] of contestants.entries()) {
            const t0 = performance.now();
            await c.backend.kernels.attendDecode?.(inputs, ATTRS);
            if (rep > 0) times[i]?.push(performance.now() - t0);
          }
        }
        const base = median(times[0] ?? []);
        for (const [i, c] of contestants.entries()) {
          const ms = median(times[i] ?? []);
          console.log(`| ${length} | ${c.name} | ${ms.toFixed(1)} | ${(base / ms).toFixed(3)} |`);
        }
      }
      for (const c of contestants) await c.backend.dispose?.();
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
