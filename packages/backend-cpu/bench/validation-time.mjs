// Per-step cost of the attention-input checks (issue 14, item 3) at one Llama-2-7B layer
// (LLAMA2_7B_LAYER of @skvq/core): TOKENS cached tokens as the quantized cache hands them to
// a kernel, 5 fp32 sinks, pages of 256 packed tokens (K 2 bits, V ternary, fp8 metadata,
// one random permutation and groups of 128 per stream, shared by every page as in the
// cache) and a 128-token fp32 window. Times checkAttrs + checkAttention of @skvq/formats,
// exactly what every attention step of the cpu backends runs before any arithmetic; the
// codes are zeros (the checks never decode them). Median of REPS, after one warm-up.
// Usage (after building @skvq/core and @skvq/formats): node bench/validation-time.mjs [tokens] [--reps N]
// The layout objects of 'before' are rebuilt outside the timed region.
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
// 'before': every page's layout is a new object each step, so each is checked in full, as
// every step did before layouts were checked once per object. 'after': the cache's shared
// layout objects, checked once.
const fresh = (segments) =>
  segments.map((seg) => (seg.kind === 'packed' ? { ...seg, layout: { ...seg.layout } } : seg));
const variants = {
  before: () => ({ ...inputs, keys: fresh(keys), values: fresh(values) }),
  after: () => inputs,
};
const times = { before: [], after: [] };
const step = (make) => {
  const job = make();
  const t0 = performance.now();
  const attrs = checkAttrs({ geometry, keysPreRope: true }, 'bench');
  checkAttention(job, 1, attrs, 'bench');
  return performance.now() - t0;
};
for (const make of Object.values(variants)) step(make); // warm-up
for (let r = 0; r < REPS; r++) {
  for (const name of r % 2 === 0 ? ['before', 'after'] : ['after', 'before']) {
    times[name].push(step(variants[name]));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const [b, a] = [median(times.before), median(times.after)];
console.log(
  `attention-input checks per step, one 7B layer, ${TOKENS} tokens, ${keys.length - 2} pages per stream, median of ${REPS} interleaved: before (layouts re-checked every step) ${b.toFixed(3)} ms, after (checked once) ${a.toFixed(3)} ms, ${(b / a).toFixed(1)}x`,
);
