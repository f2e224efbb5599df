#!/usr/bin/env node
// Decode steps through the backend-owned storage on an NVIDIA GPU: what a cache on the CUDA
// backend does per generated token (write the new token's K and V rows into its store,
// attend over the segments held in device memory, read the output back), end to end with
// the host bookkeeping, for one Llama-2-7B layer (32 heads x 128) at 32k and 128k tokens.
//   SKVQ: K 2 bits, V 1.5 bits (ternary), group 128, fp8 E4M3 metadata, 5 fp16 sinks,
//         a 128-token fp16 window, 256-token packed pages (one segment each).
//   dense: every token fp16, in 1024-token pages, attended by the same store kernels.
// It also prints the bytes each step moved between host and device (transferStats): they
// must not grow with the context. Caches are filled on the device (valid random codes and
// metadata): speed does not depend on the values; correctness is the tests' job.
//
// Usage (after build:native and the TypeScript build of this package and its dependencies):
//   node scripts/gpu-store-bench.mjs [--lengths 32768,131072] [--steps 20]
//   node scripts/gpu-store-bench.mjs --emulator --lengths 600 --steps 1   (CPU smoke test)
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LLAMA2_7B_LAYER, metaBytesPerUnit, rowCodeBytes, transferStatsOf } from '@skvq/core';
import { createCudaBackend, cudaAvailability } from '../dist/index.js';
import { KernelArgs } from '../dist/internal.js';

const { values: opts } = parseArgs({
  options: {
    lengths: { type: 'string', default: '32768,131072' },
    steps: { type: 'string', default: '20' },
    emulator: { type: 'boolean', default: false },
  },
});
const addon = opts.emulator ? 'emulator' : 'cuda';
const FILL_GRID = opts.emulator ? 1 : 4096;
const LENGTHS = opts.lengths.split(',').map(Number);
const STEPS = Number(opts.steps);
const SINKS = 5;
const WINDOW = 128;
const PAGE = 256;
const DENSE_PAGE = 1024;
const GROUP = 128;
const geometry = LLAMA2_7B_LAYER;
const C = geometry.kvHeads * geometry.headDim;
const HIDDEN = geometry.queryHeads * geometry.headDim;
const TARGET_SPEEDUP_128K = 5;

const availability = cudaAvailability(addon);
if (!availability.available) {
  console.error(`gpu-store-bench: CUDA unavailable: ${availability.reason}`);
  process.exit(1);
}
const backend = createCudaBackend(0, { addon });
backend.init();
const device = backend.device();
const storage = backend.storage;
console.log(`device: ${device.info.name}; storage residence: ${storage.residence}`);

/** Device address of a store buffer (its allocation), for the fill kernels. */
const address = (buffer) => buffer.allocation.ptr;
function fill(kernel, buffer, n, seed, extra) {
  const args = new KernelArgs().ptr(address(buffer)).i64(n).u32(seed);
  if (kernel === 'skvq_fill_bytes') args.i32(extra);
  if (kernel === 'skvq_fill_half') args.f32(extra);
  device.launch('bench', kernel, { grid: [FILL_GRID], block: [256] }, args);
}

function randomPerm(n, seed) {
  const perm = Uint32Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm;
}
const groupOffsets = Uint32Array.from({ length: C / GROUP + 1 }, (_, i) => i * GROUP);
const layout = (bits, seed) => ({
  kind: 'token-group',
  channels: C,
  bits,
  meta: 'fp8e4m3',
  perm: randomPerm(C, seed),
  groupOffsets,
  alpha: 0.92,
});
const kLayout = layout(2, 1);
const vLayout = layout(1.5, 2);

const view = (buffer, byteOffset, byteLength) => ({ buffer, byteOffset, byteLength });
const positions = (first, count) => Int32Array.from({ length: count }, (_, i) => first + i);
const rowFp16 = (seed) => {
  const row = new Uint16Array(C);
  for (let i = 0; i < C; i++) row[i] = 0x3000 + ((i * 7 + seed) % 0x800); // small finite halves
  return new Uint8Array(row.buffer);
};

/** A quantized store cache at `cached` tokens: sinks, pages, the window (ring of fp16 rows). */
function skvqCache(cached) {
  const pages = Math.floor((cached - SINKS - WINDOW) / PAGE);
  const inWindow = cached - SINKS - pages * PAGE;
  return [kLayout, vLayout].map((lay, s) => {
    const rb = rowCodeBytes(lay);
    const mb = metaBytesPerUnit(lay);
    const sinks = storage.allocate(SINKS * C * 2, 'fp');
    const ring = storage.allocate(2 * PAGE * C * 2, 'fp');
    const codes = storage.allocate(Math.ceil((pages * PAGE * rb) / 4) * 4, 'codes');
    const meta = storage.allocate(pages * PAGE * mb, 'meta');
    fill('skvq_fill_half', sinks, SINKS * C, 10 + s, 1);
    fill('skvq_fill_half', ring, inWindow * C, 20 + s, 1);
    fill('skvq_fill_bytes', codes, pages * PAGE * rb, 30 + s, lay.bits === 1.5 ? 243 : 256);
    fill('skvq_fill_fp8_meta', meta, pages * PAGE * mb, 40 + s);
    const segments = [
      {
        kind: 'fp',
        count: SINKS,
        precision: 'fp16',
        data: view(sinks, 0, SINKS * C * 2),
        positions: positions(0, SINKS),
      },
    ];
    for (let p = 0; p < pages; p++) {
      segments.push({
        kind: 'packed',
        count: PAGE,
        layout: lay,
        codes: view(codes, p * PAGE * rb, PAGE * rb),
        meta: view(meta, p * PAGE * mb, PAGE * mb),
        positions: positions(SINKS + p * PAGE, PAGE),
      });
    }
    const windowStart = SINKS + pages * PAGE;
    const ringPositions = new Int32Array(2 * PAGE);
    ringPositions.set(positions(windowStart, inWindow));
    return {
      fixed: segments,
      buffers: [sinks, ring, codes, meta],
      held: inWindow,
      /** Writes the new row into the ring; the segments of this step. */
      append(position) {
        const slot = position - windowStart;
        storage.write(ring, slot * C * 2, rowFp16(position + s));
        ringPositions[slot] = position;
        this.held = slot + 1;
        return [
          ...segments,
          {
            kind: 'fp',
            count: this.held,
            precision: 'fp16',
            data: view(ring, 0, 2 * PAGE * C * 2),
            positions: ringPositions,
          },
        ];
      },
    };
  });
}

/** A dense fp16 store cache: 1024-token pages, the last one filling up. */
function denseCache(cached) {
  const full = Math.floor(cached / DENSE_PAGE);
  const capacity = (full + 1) * DENSE_PAGE;
  return [0, 1].map((s) => {
    const rows = storage.allocate(capacity * C * 2, 'fp');
    fill('skvq_fill_half', rows, cached * C, 50 + s, 1);
    const segments = [];
    for (let p = 0; p < full; p++) {
      segments.push({
        kind: 'fp',
        count: DENSE_PAGE,
        precision: 'fp16',
        data: view(rows, p * DENSE_PAGE * C * 2, DENSE_PAGE * C * 2),
        positions: positions(p * DENSE_PAGE, DENSE_PAGE),
      });
    }
    const lastStart = full * DENSE_PAGE;
    const lastPositions = positions(lastStart, DENSE_PAGE);
    return {
      buffers: [rows],
      append(position) {
        storage.write(rows, position * C * 2, rowFp16(position + s));
        return [
          ...segments,
          {
            kind: 'fp',
            count: position + 1 - lastStart,
            precision: 'fp16',
            data: view(rows, lastStart * C * 2, DENSE_PAGE * C * 2),
            positions: lastPositions,
          },
        ];
      },
    };
  });
}

/** Runs decode steps; returns ms per step (after one warm-up step) and bytes per step. */
function decode(streams, cached) {
  let length = cached;
  const q = Float32Array.from({ length: HIDDEN }, (_, i) => Math.sin(i));
  let finite = true;
  const step = () => {
    const p = length++;
    const [keys, values] = streams.map((stream) => stream.append(p));
    const out = storage.kernels.attend(
      { q, start: p, rows: 1, causal: false, keys, values, length },
      { geometry, keysPreRope: true },
    );
    finite &&= out.every(Number.isFinite);
  };
  step();
  const before = transferStatsOf(backend);
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) step();
  const ms = (performance.now() - t0) / STEPS;
  const after = transferStatsOf(backend);
  for (const stream of streams) for (const b of stream.buffers) storage.release(b);
  return {
    ms,
    finite,
    toDevice: (after.bytesToDevice - before.bytesToDevice) / STEPS,
    fromDevice: (after.bytesFromDevice - before.bytesFromDevice) / STEPS,
  };
}

const results = [];
for (const length of LENGTHS) {
  const skvq = decode(skvqCache(length), length);
  const dense = decode(denseCache(length), length);
  results.push({ length, skvq, dense, speedup: dense.ms / skvq.ms });
  console.log(`measured ${length} tokens`);
}

console.log(
  `\nDecode steps through backend-owned storage, one 7B layer, ${STEPS} steps each (write K/V row, attend, read output):`,
);
console.log(
  '| tokens | SKVQ step (ms) | dense fp16 step (ms) | speed-up | SKVQ bytes up/down per step | dense bytes up/down per step | outputs finite |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.length} | ${r.skvq.ms.toFixed(3)} | ${r.dense.ms.toFixed(3)} | ${r.speedup.toFixed(2)}x | ${r.skvq.toDevice}/${r.skvq.fromDevice} | ${r.dense.toDevice}/${r.dense.fromDevice} | ${r.skvq.finite && r.dense.finite} |`,
  );
}
const at128k = results.find((r) => r.length === 131072);
if (at128k) {
  const ok = at128k.speedup >= TARGET_SPEEDUP_128K;
  console.log(
    `\nstore path, target at 128k: >= ${TARGET_SPEEDUP_128K}x; measured ${at128k.speedup.toFixed(2)}x: ${ok ? 'MET' : 'NOT MET'}`,
  );
}
const perStep = new Set(results.map((r) => `${r.skvq.toDevice}/${r.skvq.fromDevice}`));
console.log(
  `SKVQ bytes per step ${perStep.size === 1 ? 'are the same at every length' : 'DIFFER between lengths'}: ${[...perStep].join(', ')}`,
);
backend.dispose();
