// Decode attention time per step on 1 and 2 threads (issue 15, item 1): one Llama-2-7B
// layer (LLAMA2_7B_LAYER of @skvq/core: 32 query heads, 32 KV heads, head dim 128, RoPE
// 'half', keys cached pre-RoPE), SKVQ K2 V1.5 (ternary), token-group layout, random
// permutation, equal groups of 128, fp8 e4m3 metadata; 5 fp32 sinks, a 128-token fp32
// window. Contestants, interleaved, medians of wall ms:
//   t1      createCpuBackend({ threads: 1 }) (today's single-thread WebAssembly SIMD path)
//   t2      threads: 2 over segments in SharedArrayBuffer memory (what a cache on the
//           threaded backend holds: nothing copied)
//   t2copy  threads: 2 with copyUnshared over the same segments in plain ArrayBuffers (the
//           worker's share is copied and transferred every step; without copyUnshared such
//           a job runs on one thread)
// Then the small-job sweep behind DEFAULT_MIN_WORK_PER_THREAD: t1 vs t2 (threshold forced
// to 1) at short lengths, in wall ms and in process CPU ms (all threads: what threading
// costs beyond the work itself). First, a control: a pure arithmetic loop on one thread vs
// split over two, i.e. how much of a second core this machine gives right now.
// Usage (after `pnpm build` in this package):
//   node bench/threads-decode.mjs [tokens...] [--reps N] [--sweep 256,512,...]

import { loadavg } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import {
  contiguousGroupOffsets,
  LLAMA2_7B_LAYER,
  metaBytesPerUnit,
  rowCodeBytes,
} from '@skvq/core';
import { createCpuBackend } from '../dist/index.js';

const spin = (n) => {
  let x = 0;
  for (let i = 0; i < n; i++) x += Math.sqrt(i);
  return x;
};
if (!isMainThread) {
  parentPort.on('message', (n) => parentPort.postMessage(spin(n)));
}

const args = process.argv.slice(2);
const repsAt = args.indexOf('--reps');
const sweepAt = args.indexOf('--sweep');
const REPS = repsAt >= 0 ? Number(args[repsAt + 1]) : 7;
const SWEEP = sweepAt >= 0 ? args[sweepAt + 1].split(',').map(Number) : [];
const flagValues = new Set([repsAt, sweepAt].filter((i) => i >= 0).map((i) => i + 1));
const sizes = args.filter((a, i) => !a.startsWith('--') && !flagValues.has(i)).map(Number);
const LENGTHS = sizes.length > 0 ? sizes : [4096, 32768];

const geometry = LLAMA2_7B_LAYER;
const CHANNELS = 32 * 128;
const SINKS = 5;
const WINDOW = 128;
const CHUNK = 1024;
const attrs = { geometry, keysPreRope: true };
const one = createCpuBackend({ threads: 1 });
const two = createCpuBackend({ threads: 2 });
const twoCopy = createCpuBackend({ threads: 2, copyUnshared: true });
const twoAlways = createCpuBackend({ threads: 2, minWorkPerThread: 1 });
await one.init?.();

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function layout(bits, r) {
  const perm = Uint32Array.from({ length: CHANNELS }, (_, i) => i);
  for (let i = CHANNELS - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const groupOffsets = contiguousGroupOffsets(CHANNELS, 128);
  return {
    kind: 'token-group',
    channels: CHANNELS,
    bits,
    meta: 'fp8e4m3',
    perm,
    groupOffsets,
    alpha: 0.92,
  };
}

const at = (from, n) => Int32Array.from({ length: n }, (_, i) => from + i);
const sharedBytes = (n) => new Uint8Array(new SharedArrayBuffer(n));

/** Sinks, one packed page, window; quantized CHUNK tokens at a time (128k fits in memory). */
function stream(length, bits, seed) {
  const r = rng(seed);
  const l = layout(bits, r);
  const scale = Float32Array.from({ length: CHANNELS }, () => 0.5 + 2 * r());
  const offset = Float32Array.from({ length: CHANNELS }, () => r() - 0.5);
  const rows = (n) => {
    const x = new Float32Array(n * CHANNELS);
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < CHANNELS; c++)
        x[t * CHANNELS + c] = offset[c] + scale[c] * (r() + r() + r() - 1.5);
    }
    return x;
  };
  const packed = length - SINKS - WINDOW;
  const rowBytes = rowCodeBytes(l);
  const metaBytes = metaBytesPerUnit(l);
  const codes = sharedBytes(packed * rowBytes);
  const meta = sharedBytes(packed * metaBytes);
  for (let first = 0; first < packed; first += CHUNK) {
    const count = Math.min(CHUNK, packed - first);
    one.kernels.quantizeTokens({
      layout: l,
      x: rows(count),
      count,
      codes,
      codesOffset: first * rowBytes,
      meta,
      metaOffset: first * metaBytes,
    });
  }
  const fp = (from, n) => {
    const data = new Float32Array(new SharedArrayBuffer(n * CHANNELS * 4));
    data.set(rows(n));
    return { kind: 'fp', precision: 'fp32', count: n, data, positions: at(from, n) };
  };
  const page = {
    kind: 'packed',
    count: packed,
    layout: l,
    codes,
    meta,
    positions: at(SINKS, packed),
  };
  return [fp(0, SINKS), page, fp(SINKS + packed, WINDOW)];
}

/** The same segments over plain ArrayBuffers (slice() of a shared view copies into one). */
const plain = (segs) =>
  segs.map((s) =>
    s.kind === 'fp'
      ? { ...s, data: s.data.slice() }
      : { ...s, codes: s.codes.slice(), meta: s.meta.slice() },
  );

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function relErr(a, b) {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

async function race(variants, reps) {
  const names = Object.keys(variants);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const cpu = Object.fromEntries(names.map((n) => [n, []]));
  const outs = {};
  for (const n of names) outs[n] = await variants[n](); // warm-up (starts the workers)
  for (let rep = 0; rep < reps; rep++) {
    for (let j = 0; j < names.length; j++) {
      const n = names[(rep + j) % names.length];
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await variants[n]();
      times[n].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[n].push((c.user + c.system) / 1000);
    }
  }
  const med = (table) => Object.fromEntries(names.map((n) => [n, median(table[n])]));
  return { names, times, outs, m: med(times), c: med(cpu) };
}

/** The control: a pure loop on one thread, then split over this thread and one worker. */
async function control() {
  const N = 2e8;
  let t0 = performance.now();
  spin(N);
  const one = performance.now() - t0;
  const worker = new Worker(new URL(import.meta.url));
  await new Promise((resolve) => worker.once('online', resolve));
  t0 = performance.now();
  const done = new Promise((resolve) => worker.once('message', resolve));
  worker.postMessage(N / 2);
  spin(N / 2);
  await done;
  const two = performance.now() - t0;
  await worker.terminate();
  return one / two;
}

if (isMainThread) {
  const q = Float32Array.from({ length: 32 * 128 }, (_, i) => Math.cos(i * 0.7) * 2);
  const load = () => loadavg()[0].toFixed(1);
  console.log(`threads-decode: Node ${process.version}, ${one.label()} vs ${two.label()}`);
  console.log(
    `control: a pure loop split over 2 threads runs ${(await control()).toFixed(2)}x faster than on 1 (load ${load()})`,
  );
  for (const length of LENGTHS) {
    const keys = stream(length, 2, 1);
    const values = stream(length, 1.5, 2);
    const job = { q, start: length - 1, rows: 1, causal: false, length };
    const shared = { ...job, keys, values };
    const copied = { ...job, keys: plain(keys), values: plain(values) };
    const { names, times, outs, m, c } = await race(
      {
        t1: () => one.kernels.attend(shared, attrs),
        t2: () => two.kernels.attend(shared, attrs),
        t2copy: () => twoCopy.kernels.attend(copied, attrs),
      },
      REPS,
    );
    console.log(
      `\n${length} tokens, ${REPS} interleaved reps, median wall ms (min), median CPU ms, load ${load()}:`,
    );
    for (const n of names) {
      console.log(
        `  ${n.padEnd(7)} ${m[n].toFixed(1).padStart(9)} (${Math.min(...times[n]).toFixed(1)})  cpu ${c[n].toFixed(1).padStart(7)}   [${times[n].map((t) => t.toFixed(0)).join(' ')}]`,
      );
    }
    console.log(
      `  speedup t1/t2: ${(m.t1 / m.t2).toFixed(2)}x   t1/t2copy: ${(m.t1 / m.t2copy).toFixed(2)}x   rel. difference t2 vs t1: ${relErr(outs.t2, outs.t1).toExponential(2)}`,
    );
    console.log(`  control now: ${(await control()).toFixed(2)}x`);
  }

  if (SWEEP.length > 0) console.log('\nsmall jobs (threshold sweep), median ms:');
  for (const length of SWEEP) {
    const job = { q, start: length - 1, rows: 1, causal: false, length };
    const shared = { ...job, keys: stream(length, 2, 3), values: stream(length, 1.5, 4) };
    const { m, c } = await race(
      {
        t1: () => one.kernels.attend(shared, attrs),
        t2: () => twoAlways.kernels.attend(shared, attrs),
      },
      Math.max(REPS, 15),
    );
    console.log(
      `  ${String(length).padStart(6)} tokens: wall t1 ${m.t1.toFixed(2)}  t2 ${m.t2.toFixed(2)} (t1/t2 ${(m.t1 / m.t2).toFixed(2)}x)   cpu t1 ${c.t1.toFixed(2)}  t2 ${c.t2.toFixed(2)} (overhead ${(c.t2 - c.t1).toFixed(2)})   load ${load()}`,
    );
  }
  await two.dispose?.();
  await twoCopy.dispose?.();
  await twoAlways.dispose?.();
}
