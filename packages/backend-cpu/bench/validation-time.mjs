// Per-step cost of the attention-input checks (issue 14, item 3) at one Llama-2-7B layer
// (LLAMA2_7B_LAYER of @skvq/core): TOKENS cached tokens as the quantized cache hands them to
// a kernel, 5 fp32 sinks, pages of 256 packed tokens (K 2 bits, V ternary, fp8 metadata,
// one random permutation and groups of 128 per stream, shared by every page as in the
// cache) and a 128-token fp32 window. Times checkAttrs + checkAttention of @skvq/formats,
// exactly what every attention step of the cpu backends runs before any arithmetic; the
// codes are zeros (the checks never decode them). Median of REPS, after one warm-up.
// Usage (after building @skvq/core and @skvq/formats): node bench/validation-time.mjs [tokens] [--reps N]
import {
  contiguousGroupOffsets,
  LLAMA2_7B_LAYER,
  metaBytesPerUnit,
  rowCodeBytes,
} from '@skvq/core';
import { checkAttention, checkAttrs } from '@skvq/formats';

const args = process.argv.slice(2);
const repsAt = args.indexOf('--reps');
const REPS = repsAt >= 0 ? Number(args[repsAt + 1]) : 31;
const TOKENS = Number(args.find((a, i) => !a.startsWith('--') && i !== repsAt + 1) ?? 32768);
const PAGE = 256;
const SINKS = 5;
const WINDOW = 128;
const geometry = LLAMA2_7B_LAYER;
const CHANNELS = geometry.kvHeads * geometry.headDim;

function permutation(seed) {
  const p = Uint32Array.from({ length: CHANNELS }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = CHANNELS - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

function layout(bits, seed) {
  return {
    kind: 'token-group',
    channels: CHANNELS,
    bits,
    meta: 'fp8e4m3',
    perm: permutation(seed),
    groupOffsets: contiguousGroupOffsets(CHANNELS, 128),
    alpha: 0.95,
  };
}

const positions = (from, n) => Int32Array.from({ length: n }, (_, i) => from + i);
const fp = (from, n) => ({
  kind: 'fp',
  precision: 'fp32',
  count: n,
  data: new Float32Array(n * CHANNELS),
  positions: positions(from, n),
});

function stream(bits, seed) {
  const l = layout(bits, seed);
  const segments = [fp(0, SINKS)];
  const packed = TOKENS - SINKS - WINDOW;
  for (let first = 0; first < packed; first += PAGE) {
    const n = Math.min(PAGE, packed - first);
    segments.push({
      kind: 'packed',
      count: n,
      layout: l,
      codes: new Uint8Array(PAGE * rowCodeBytes(l)),
      meta: new Uint8Array(PAGE * metaBytesPerUnit(l)),
      positions: positions(SINKS + first, n),
    });
  }
  segments.push(fp(TOKENS - WINDOW, WINDOW));
  return segments;
}

const keys = stream(2, 1);
const values = stream(1.5, 2);
const q = new Float32Array(geometry.queryHeads * geometry.headDim).fill(0.5);
const inputs = { q, position: TOKENS - 1, keys, values, length: TOKENS };
const step = () => {
  const attrs = checkAttrs({ geometry, keysPreRope: true }, 'bench');
  checkAttention(inputs, 1, attrs, 'bench');
};
step();
const times = [];
for (let r = 0; r < REPS; r++) {
  const t0 = performance.now();
  step();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(
  `validation per attention step, one 7B layer, ${TOKENS} tokens (${keys.length - 2} pages per stream): median ${median.toFixed(3)} ms over ${REPS} (min ${times[0].toFixed(3)}, max ${times[times.length - 1].toFixed(3)})`,
);
