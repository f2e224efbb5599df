import os from 'node:os';
import type { KvGeometry } from '@skvq/core';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { createWebgpuBackend, type WebgpuBackend } from '../src/index.js';
import { DecodeSim } from '../test/decode-sim.js';
import { maxRelativeError } from '../test/store-checks.js';

/**
 * Issue 19: one decode step on the host-array path (before: the backend's host kernels
 * upload every page they read, per call) against the store path (after: KV bytes live in
 * the backend's device storage; the step writes the new token, quantizes the token leaving
 * the window where it lies, and attends in place). Both run the same step of the same
 * cache (DecodeSim, test/decode-sim.ts): fp32 sinks, K 2-bit / V ternary pages of 256
 * tokens with fp8 metadata over permuted groups, an fp16 window ring; interleaved, after
 * one untimed warm-up step each. Reported per context length: median ms per step, bytes
 * moved host<->device per step (backend.transferStats()), and the store output's relative
 * difference from the host path's.
 *
 * SKVQ_STORE_BENCH_SHAPE: '7b' (default; one Llama-2-7B layer, 32 heads x 128, groups of
 * 128, window 128) or 'small' (4 query / 2 KV heads x 16, groups of 8, window 32).
 * SKVQ_STORE_BENCH_LENGTHS (default 4096,32768), SKVQ_STORE_BENCH_STEPS (default 3).
 *
 * Run: npx vitest bench --run packages/backend-webgpu/bench/store-decode.bench.ts
 */
const SHAPE = process.env.SKVQ_STORE_BENCH_SHAPE ?? '7b';
const LENGTHS = (process.env.SKVQ_STORE_BENCH_LENGTHS ?? '4096,32768')
  .split(',')
  .map((s) => Number.parseInt(s, 10));
const STEPS = Number.parseInt(process.env.SKVQ_STORE_BENCH_STEPS ?? '3', 10);
const BENCH_OPTIONS = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };

const SHAPES: Record<string, { geometry: KvGeometry; groupSize: number; window: number }> = {
  '7b': {
    geometry: {
      layers: 1,
      queryHeads: 32,
      kvHeads: 32,
      headDim: 128,
      rope: { style: 'pairwise', theta: 10000 },
    },
    groupSize: 128,
    window: 128,
  },
  small: {
    geometry: {
      layers: 1,
      queryHeads: 4,
      kvHeads: 2,
      headDim: 16,
      rope: { style: 'pairwise', theta: 10000 },
    },
    groupSize: 8,
    window: 32,
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
/** Exact bytes, with MiB beside them when large. */
const kib = (bytes: number) =>
  bytes < 2 ** 20
    ? `${bytes.toLocaleString('en-US')} B`
    : `${bytes.toLocaleString('en-US')} B (${(bytes / 2 ** 20).toFixed(1)} MiB)`;

let backend: WebgpuBackend;
beforeAll(async () => {
  backend = createWebgpuBackend();
  await backend.init?.();
});
afterAll(() => backend?.dispose?.());

describe(`decode step, host arrays vs device storage (${SHAPE})`, () => {
  bench(
    'host path vs store path',
    async () => {
      const shape = SHAPES[SHAPE];
      if (shape === undefined) throw new Error(`SKVQ_STORE_BENCH_SHAPE ${SHAPE}: use 7b or small`);
      const rows: string[] = [];
      for (const length of LENGTHS) {
        const common = { length, ...shape, pageTokens: 256 };
        const host = new DecodeSim(backend, { ...common, path: 'host' });
        const store = new DecodeSim(backend, { ...common, path: 'store' });
        const times = { host: [] as number[], store: [] as number[] };
        const none = { bytesToDevice: 0, bytesFromDevice: 0 };
        let moved = { host: none, store: none };
        let diff = 0;
        try {
          for (let i = 0; i <= STEPS; i++) {
            const q = host.query();
            store.query(); // keep both query streams in step
            const h = await host.step(q);
            const s = await store.step(q);
            diff = Math.max(diff, maxRelativeError(s.out, h.out));
            if (i === 0) continue; // warm-up: pipelines, device tables, RoPE tables
            times.host.push(h.ms);
            times.store.push(s.ms);
            moved = { host: h.moved, store: s.moved };
          }
        } finally {
          store.release();
        }
        const hMs = median(times.host);
        const sMs = median(times.store);
        rows.push(
          `| ${length} | host arrays (before) | ${hMs.toFixed(0)} | ${kib(moved.host.bytesToDevice)} | ${kib(moved.host.bytesFromDevice)} | |`,
          `| ${length} | device storage (after) | ${sMs.toFixed(0)} | ${kib(moved.store.bytesToDevice)} | ${kib(moved.store.bytesFromDevice)} | ${(hMs / sMs).toFixed(2)}x, output within ${diff.toExponential(1)} |`,
        );
        console.log(`${length} tokens done: host ${hMs.toFixed(0)} ms, store ${sMs.toFixed(0)} ms`);
      }
      console.log(
        [
          `decode step, ${SHAPE} (${JSON.stringify(SHAPES[SHAPE]?.geometry)}), ${STEPS} timed steps after 1 warm-up, adapter: ${backend.label?.()}, ${os.cpus().length} CPUs, Node ${process.version}`,
          '| tokens | path | ms per step (median) | bytes to device per step | bytes from device per step | speed-up, store vs host output |',
          '| --- | --- | --- | --- | --- | --- |',
          ...rows,
        ].join('\n'),
      );
    },
    BENCH_OPTIONS,
  );
});
