// Decode attention speed on one Llama-2-7B layer (issue 4): 32 query heads, 32 KV heads,
// head dim 128, RoPE theta 10000 (LLAMA2_7B_LAYER of @skvq/core, HF 'half' style), keys cached pre-RoPE; SKVQ K2 V1.5 (ternary),
// token-group layout, random permutation, equal groups of 128, fp8 e4m3 metadata; 5 fp32
// sinks and a 128-token fp32 window. Compares, interleaved, medians:
//   fused   cpuBackend.attendDecode over the packed pages (WebAssembly SIMD path)
//   fusedPost, densePost   the same with keysPreRope: false (keys stored after RoPE; timing
//           only: the data is not rotated): the quantized-domain key kernel vs dense
//   denseW  cpuBackend.attendDecode over one fp32 segment holding every token (same path)
//   denseJ  the same dense call with the WebAssembly path off (pure JavaScript kernel)
//   deq     cpuBackend.dequantize of the whole packed page, then attendDecode over fp32
// Times are CPU milliseconds of this process (the machine is shared).
// Usage (after `pnpm build` in this package):
//   node bench/decode-speed.mjs [tokens...] [--reps N] [--only fused,denseW,...]
import {
  contiguousGroupOffsets,
  LLAMA2_7B_LAYER,
  metaBytesPerUnit,
  rowCodeBytes,
} from '@skvq/core';
import { cpuBackend, createCpuBackend } from '../dist/index.js';

const args = process.argv.slice(2);
const repsAt = args.indexOf('--reps');
const onlyAt = args.indexOf('--only');
const REPS = repsAt >= 0 ? Number(args[repsAt + 1]) : 7;
const ONLY = onlyAt >= 0 ? args[onlyAt + 1].split(',') : null;
const flagValues = new Set([repsAt, onlyAt].filter((i) => i >= 0).map((i) => i + 1));
const sizes = args.filter((a, i) => !a.startsWith('--') && !flagValues.has(i)).map(Number);
const LENGTHS = sizes.length > 0 ? sizes : [4096, 32768];

const geometry = LLAMA2_7B_LAYER;
const CHANNELS = 32 * 128;
const SINKS = 5;
const WINDOW = 128;
const attrs = { geometry, keysPreRope: true };
const postAttrs = { geometry, keysPreRope: false };
const k = cpuBackend.kernels;
/** The same backend with decode attention kept in JavaScript. */
const plain = createCpuBackend({ fused: false }).kernels;

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
  return {
    kind: 'token-group',
    channels: CHANNELS,
    bits,
    meta: 'fp8e4m3',
    perm,
    groupOffsets: contiguousGroupOffsets(CHANNELS, 128),
    alpha: 0.92,
  };
}

const at = (from, n) => Int32Array.from({ length: n }, (_, i) => from + i);

function stream(length, bits, seed) {
  const r = rng(seed);
  const x = new Float32Array(length * CHANNELS);
  // Channel-dependent scale and offset, like real keys (outlier channels).
  for (let c = 0; c < CHANNELS; c++) {
    const s = 0.5 + 2 * r();
    const o = r() - 0.5;
    for (let t = 0; t < length; t++) x[t * CHANNELS + c] = o + s * (r() + r() + r() - 1.5);
  }
  const l = layout(bits, r);
  const packed = length - SINKS - WINDOW;
  const codes = new Uint8Array(packed * rowCodeBytes(l));
  const meta = new Uint8Array(packed * metaBytesPerUnit(l));
  k.quantizeTokens({
    layout: l,
    x: x.subarray(SINKS * CHANNELS, (SINKS + packed) * CHANNELS),
    count: packed,
    codes,
    codesOffset: 0,
    meta,
    metaOffset: 0,
  });
  const fp = (from, n) => ({
    kind: 'fp',
    precision: 'fp32',
    count: n,
    data: x.slice(from * CHANNELS, (from + n) * CHANNELS),
    positions: at(from, n),
  });
  const page = {
    kind: 'packed',
    count: packed,
    layout: l,
    codes,
    meta,
    positions: at(SINKS, packed),
  };
  return {
    quantized: [fp(0, SINKS), page, fp(SINKS + packed, WINDOW)],
    dense: [{ kind: 'fp', precision: 'fp32', count: length, data: x, positions: at(0, length) }],
  };
}

function dequantizeThenAttend(inputs) {
  const expand = (segs) =>
    segs.map((s) =>
      s.kind === 'packed'
        ? {
            kind: 'fp',
            precision: 'fp32',
            count: s.count,
            positions: s.positions,
            data: k.dequantize({
              layout: s.layout,
              codes: s.codes,
              meta: s.meta,
              first: 0,
              count: s.count,
            }),
          }
        : s,
    );
  return k.attendDecode(
    { ...inputs, keys: expand(inputs.keys), values: expand(inputs.values) },
    attrs,
  );
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
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

for (const length of LENGTHS) {
  const K = stream(length, 2, 1);
  const V = stream(length, 1.5, 2);
  const q = Float32Array.from({ length: 32 * 128 }, (_, i) => Math.cos(i * 0.7) * 2);
  const base = { q, position: length - 1, length };
  const quant = { ...base, keys: K.quantized, values: V.quantized };
  const dense = { ...base, keys: K.dense, values: V.dense };
  const variants = {
    fused: () => k.attendDecode(quant, attrs),
    // Keys stored after RoPE (the cache's keysPreRope: false): no rotation per key.
    fusedPost: () => k.attendDecode(quant, postAttrs),
    densePost: () => k.attendDecode(dense, postAttrs),
    denseW: () => k.attendDecode(dense, attrs),
    denseJ: () => plain.attendDecode(dense, attrs),
    deq: () => dequantizeThenAttend(quant),
  };
  const names = Object.keys(variants).filter((n) => ONLY === null || ONLY.includes(n));
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const outs = {};
  for (const n of names) outs[n] = variants[n](); // warm-up
  for (let rep = 0; rep < REPS; rep++) {
    for (let j = 0; j < names.length; j++) {
      const n = names[(rep + j) % names.length];
      // CPU time of this process (the machine is shared; wall time is inflated by others).
      const t0 = cpuMs();
      variants[n]();
      times[n].push(cpuMs() - t0);
    }
  }
  const m = Object.fromEntries(names.map((n) => [n, median(times[n])]));
  if (ONLY !== null) {
    console.log(length, m);
    continue;
  }
  const bestDense = Math.min(m.denseW, m.denseJ);
  console.log(`\n${length} tokens, ${REPS} interleaved reps, median CPU ms:`);
  for (const n of names)
    console.log(
      `  ${n.padEnd(7)} ${m[n].toFixed(1).padStart(9)}   [${times[n].map((t) => t.toFixed(0)).join(' ')}]`,
    );
  console.log(
    `  fused vs best dense fp32: ${(bestDense / m.fused).toFixed(2)}x   fused vs dequantize-then-attend: ${(m.deq / m.fused).toFixed(2)}x`,
  );
  console.log(
    `  rel. difference fused vs dequantize-then-attend: ${relErr(outs.fused, outs.deq).toExponential(2)}; denseW vs denseJ: ${relErr(outs.denseW, outs.denseJ).toExponential(2)}`,
  );
}
