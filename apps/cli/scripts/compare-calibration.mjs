#!/usr/bin/env node
// Calibration objectives and clip grids compared on HELD-OUT stories in the decode protocol
// (issue 20, point 2). Calibration: the last 300 stories of the text (16,384 tokens, as
// `skvq eval` calibrates). Selection: stories 200..(200+N) (never seen by calibration, and
// not the first 200 that docs/results reports on). Every variant is scored with the same
// cache (window 32, sinks 5, group 8, fp16 scale/zero) in the decode protocol.
//   node apps/cli/scripts/compare-calibration.mjs [--bits K2V2] [--stories 60] [--out FILE]
// Needs `pnpm --filter @skvq/cli build`. Prints a Markdown table; --out writes the JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLlama2c, splitStories } from '@skvq/adapter-llama';
import { cpuBackend } from '@skvq/backend-cpu';
import {
  calibrateCaptured,
  captureActivations,
  createCliRegistry,
  evaluateMethod,
  parseKvBits,
  parseMethod,
} from '../dist/index.js';

const { values } = parseArgs({
  options: {
    bits: { type: 'string', default: 'K2V2' },
    stories: { type: 'string', default: '60' },
    first: { type: 'string', default: '200' },
    variants: { type: 'string' },
    out: { type: 'string' },
    shared: { type: 'string', default: '../shared' },
  },
});
const bits = parseKvBits(values.bits, 'compare-calibration');
const method = parseMethod(`skvq-k${bits.k}v${bits.v}`);
const shared = values.shared;
const model = await loadLlama2c(
  new Uint8Array(readFileSync(join(shared, 'models/stories260K.bin'))),
  {
    tokenizer: new Uint8Array(readFileSync(join(shared, 'models/tok512.bin'))),
    name: 'stories260K',
  },
);
const all = splitStories(readFileSync(join(shared, 'data/tinystories-valid-head.txt'), 'utf8'));
const first = Number(values.first);
const heldOut = all.slice(first, first + Number(values.stories));
const calibStories = all.slice(all.length - 300);
const registry = createCliRegistry();
const config = {
  window: 32,
  sinks: 5,
  groupSize: 8,
  meta: 'fp16',
  fpPrecision: 'fp16',
  prefillAttention: 'quantized',
  pageTokens: 32,
};
const decode = { protocol: 'decode', window: config.window, sinks: config.sinks };
const range = (a, b, step) => {
  const out = [];
  for (let i = 0; a + i * step <= b + 1e-9; i++) out.push(Number((a + i * step).toFixed(2)));
  return out;
};
const DEFAULT_GRID = range(0.8, 1, 0.02);
const WIDE_GRID = range(0.5, 1, 0.02);

const captured = await captureActivations(
  cpuBackend,
  model,
  calibStories,
  16384,
  'last 300 stories',
);
const calibrate = (extra) =>
  calibrateCaptured(registry, model, captured, {
    bits,
    meta: 'fp16',
    groupSize: 8,
    grouping: 'cluster',
    seed: 0,
    ...extra,
  });

/** One alpha for every layer and both streams: the grid value with the least summed error. */
function sharedAlpha(artifact) {
  const grid = artifact.layers[0].k.alphaSearch.grid;
  let best = 0;
  let bestErr = Number.POSITIVE_INFINITY;
  grid.forEach((_, i) => {
    let e = 0;
    for (const l of artifact.layers) for (const s of [l.k, l.v]) e += s.alphaSearch.errors[i] ** 2;
    if (e < bestErr) {
      bestErr = e;
      best = i;
    }
  });
  return grid[best];
}
const withAlpha = (artifact, alpha) => ({
  ...artifact,
  layers: artifact.layers.map((l) => ({ k: { ...l.k, alpha }, v: { ...l.v, alpha } })),
});

const variants = {
  'paper objective, grid 0.80..1.00 (old default)': () => calibrate({ alphaGrid: DEFAULT_GRID }),
  'paper objective, grid 0.50..1.00': () => calibrate({ alphaGrid: WIDE_GRID }),
  'decode objective, grid 0.80..1.00': () =>
    calibrate({ alphaGrid: DEFAULT_GRID, objective: decode }),
  'decode objective, grid 0.50..1.00': () => calibrate({ alphaGrid: WIDE_GRID, objective: decode }),
  'decode objective, grid 0.50..1.00, 1024 sample tokens': () =>
    calibrate({ alphaGrid: WIDE_GRID, objective: decode, sampleTokens: 1024 }),
  'decode objective, grid 0.50..1.00, 4096 sample tokens': () =>
    calibrate({ alphaGrid: WIDE_GRID, objective: decode, sampleTokens: 4096 }),
  'decode objective, grid 0.50..1.00 step 0.01, 1024 sample tokens': () =>
    calibrate({ alphaGrid: range(0.5, 1, 0.01), objective: decode, sampleTokens: 1024 }),
  'decode objective, grid 0.30..1.00, 1024 sample tokens': () =>
    calibrate({ alphaGrid: range(0.3, 1, 0.02), objective: decode, sampleTokens: 1024 }),
  'prefill objective (every older token quantized), grid 0.50..1.00, 1024 sample tokens': () =>
    calibrate({
      alphaGrid: WIDE_GRID,
      objective: { ...decode, protocol: 'prefill' },
      sampleTokens: 1024,
    }),
  'one shared alpha (decode objective, grid 0.50..1.00, 1024 tokens)': async () => {
    const a = await calibrate({ alphaGrid: WIDE_GRID, objective: decode, sampleTokens: 1024 });
    return withAlpha(a, sharedAlpha(a));
  },
  'one shared alpha 1.0 (no clip)': async () =>
    withAlpha(await calibrate({ alphaGrid: DEFAULT_GRID }), 1),
};
const chosen = values.variants ? values.variants.split('|') : Object.keys(variants);

const fp32 = await evaluateMethod(parseMethod('fp32'), {
  registry,
  backend: cpuBackend,
  model,
  stories: heldOut,
  config,
  referencePpl: Number.NaN,
  attentionSamples: [],
  protocol: 'decode',
});
const rows = [];
console.log(
  `held-out stories ${first}..${first + heldOut.length - 1}, decode protocol, w32 s5 g8 fp16, ${method.name}; fp32 ppl ${fp32.ppl.toFixed(4)}\n`,
);
console.log('| calibration | key alphas | value alphas | ppl | delta vs fp32 |');
console.log('| --- | --- | --- | ---: | ---: |');
for (const name of chosen) {
  const artifact = await variants[name]();
  const r = await evaluateMethod(method, {
    registry,
    backend: cpuBackend,
    model,
    stories: heldOut,
    config,
    calibration: artifact,
    referencePpl: fp32.ppl,
    attentionSamples: [],
    protocol: 'decode',
  });
  const ka = artifact.layers.map((l) => l.k.alpha.toFixed(2)).join('/');
  const va = artifact.layers.map((l) => l.v.alpha.toFixed(2)).join('/');
  rows.push({
    name,
    keyAlphas: ka,
    valueAlphas: va,
    ppl: r.ppl,
    deltaPct: r.deltaPct,
    cpuSeconds: r.cpuSeconds,
  });
  console.log(`| ${name} | ${ka} | ${va} | ${r.ppl.toFixed(4)} | +${r.deltaPct.toFixed(2)}% |`);
}
if (values.out)
  writeFileSync(
    values.out,
    `${JSON.stringify({ bits: values.bits, heldOut: [first, first + heldOut.length - 1], fp32: fp32.ppl, rows }, null, 1)}\n`,
  );
