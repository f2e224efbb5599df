import { benchRows } from '@skvq/backend-conformance';
import {
  type AttentionAttrs,
  type BackendPlugin,
  type BackendStorage,
  LLAMA2_7B_LAYER,
  transferStatsOf,
} from '@skvq/core';
import { bench, describe } from 'vitest';
import type { GpujsMode } from '../src/index.js';
import { probeMode } from '../test/helpers.js';
import { buildStepCache, hostDecodeStep, storeDecodeStep } from '../test/store-cache.js';
import { bytesOf } from '../test/store-helpers.js';

/**
 * Backend-owned storage: bytes moved and time per decode step of a Llama-2-7B layer
 * (32 heads x 128; K 2 bits, V ternary, fp8 meta; 4 fp32 sinks, pages of 1024 tokens, a
 * 32-token fp32 window) with the KV pages held in the gpu.js storage (store attend, the
 * new token written into the window buffers) against the host-array kernel on the same
 * tokens (every call uploads the slices it reads). Then the cost of one storage write of
 * a 4096-channel fp32 row (16 KiB) into buffers of growing size, both ways: in place with
 * texSubImage2D (GL modes, texel-aligned writes) and through the write kernel, which
 * rewrites the whole buffer (a gpu.js texture is an immutable kernel output).
 *
 * SKVQ_BENCH_LENGTHS (default 4096,32768), SKVQ_BENCH_GPUJS_MODES (default headlessgl),
 * SKVQ_BENCH_REPS (default 3).
 */
const REPS = Number.parseInt(process.env.SKVQ_BENCH_REPS ?? '3', 10);
const LENGTHS = (process.env.SKVQ_BENCH_LENGTHS ?? '4096,32768').split(',').map(Number);
const MODES = (process.env.SKVQ_BENCH_GPUJS_MODES ?? 'headlessgl').split(',') as GpujsMode[];
const CHANNELS = LLAMA2_7B_LAYER.kvHeads * LLAMA2_7B_LAYER.headDim;
const ATTRS: AttentionAttrs = { geometry: LLAMA2_7B_LAYER, keysPreRope: true };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function timed(backend: BackendPlugin, run: () => Promise<unknown>) {
  const before = transferStatsOf(backend);
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const after = transferStatsOf(backend);
  return {
    ms,
    up: after.bytesToDevice - before.bytesToDevice,
    down: after.bytesFromDevice - before.bytesFromDevice,
  };
}

describe('gpu.js backend-owned storage, 7B layer decode step', () => {
  bench(
    'bytes and time per decode step: store vs host arrays; write cost',
    async () => {
      for (const mode of MODES) {
        const probe = await probeMode(mode);
        const backend = probe.backend;
        if (backend === undefined) {
          console.log(`gpujs ${mode}: not measured (${probe.reason})`);
          continue;
        }
        console.log(`gpujs ${mode}: ${probe.reason}`);
        console.log('| tokens | path | bytes up | bytes down | ms (median) |');
        for (const length of LENGTHS) {
          const cache = buildStepCache(backend.storage!, CHANNELS, length);
          const q = benchRows(
            7,
            1,
            CHANNELS * (LLAMA2_7B_LAYER.queryHeads / LLAMA2_7B_LAYER.kvHeads),
          );
          // Step 0: untimed warm-up (compilation, tables).
          await storeDecodeStep(backend, cache, 0, q, ATTRS);
          await hostDecodeStep(backend, cache, 0, q, ATTRS);
          const store: Awaited<ReturnType<typeof timed>>[] = [];
          const host: Awaited<ReturnType<typeof timed>>[] = [];
          for (let rep = 1; rep <= REPS; rep++) {
            store.push(await timed(backend, () => storeDecodeStep(backend, cache, rep, q, ATTRS)));
            host.push(await timed(backend, () => hostDecodeStep(backend, cache, rep, q, ATTRS)));
          }
          for (const [name, xs] of [
            ['store (after)', store],
            ['host arrays (before)', host],
          ] as const) {
            const last = xs[xs.length - 1]!;
            console.log(
              `| ${length} | ${name} | ${last.up} | ${last.down} | ${median(xs.map((x) => x.ms)).toFixed(1)} |`,
            );
          }
        }
        const storage = backend.storage as BackendStorage;
        const row = bytesOf(benchRows(9, 1, CHANNELS));
        console.log('| buffer bytes | write path | ms per 16 KiB row write (median) | bytes up |');
        for (const size of [1 << 20, 1 << 22, 1 << 24]) {
          for (const direct of [true, false]) {
            backend.context().directWrites = direct;
            const buf = storage.allocate(size, 'fp');
            storage.write(buf, 0, row);
            const xs: Awaited<ReturnType<typeof timed>>[] = [];
            for (let rep = 0; rep < Math.max(3, REPS); rep++) {
              xs.push(
                await timed(backend, async () => {
                  storage.write(buf, (rep + 1) * row.length, row);
                  // A read of 4 bytes waits for the write to finish on the device.
                  await storage.read({ buffer: buf, byteOffset: 0, byteLength: 4 });
                }),
              );
            }
            const path = direct ? 'texSubImage2D (texel-aligned)' : 'write kernel (whole buffer)';
            console.log(
              `| ${size} | ${path} | ${median(xs.map((x) => x.ms)).toFixed(1)} | ${xs[0]!.up} |`,
            );
            storage.release(buf);
          }
          backend.context().directWrites = true;
        }
        backend.dispose();
      }
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
