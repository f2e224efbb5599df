// How often the quantize kernel flags a row for exact recomputation on the host (a value
// within QUANT_BOUNDARY_MARGIN of a rounding boundary): 2048 uniform random tokens of 4096
// channels per width, groups of 128, fp8 metadata, gpu.js cpu mode (the flag test is the
// same arithmetic in every mode). Run after `pnpm build`: node bench/exact-rows.mjs

import { contiguousGroupOffsets, metaBytesPerUnit, rowCodeBytes } from '@skvq/core';
import { createGpujsBackend } from '../dist/index.js';

const backend = createGpujsBackend({ mode: 'cpu' });
await backend.init();
const C = 4096,
  T = 256;
for (const bits of [2, 4]) {
  const layout = {
    kind: 'token-group',
    channels: C,
    bits,
    meta: 'fp8e4m3',
    perm: null,
    groupOffsets: contiguousGroupOffsets(C, 128),
    alpha: 0.92,
  };
  let a = 12345,
    rows = 0;
  const before = backend.context().exactRowRecomputes;
  for (let rep = 0; rep < 8; rep++) {
    const x = new Float32Array(T * C).map(() => {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      return a / 2 ** 31 - 1;
    });
    await backend.kernels.quantizeTokens({
      layout,
      x,
      count: T,
      codes: new Uint8Array(T * rowCodeBytes(layout)),
      codesOffset: 0,
      meta: new Uint8Array(T * metaBytesPerUnit(layout)),
      metaOffset: 0,
    });
    rows += T;
  }
  const flagged = backend.context().exactRowRecomputes - before;
  console.log(
    `${bits} bits: ${flagged} of ${rows} rows of ${C} values recomputed (${((100 * flagged) / rows).toFixed(2)}%)`,
  );
}
