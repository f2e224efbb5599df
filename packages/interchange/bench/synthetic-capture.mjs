// Writes a synthetic Llama-2-7B-geometry K/V capture (32 layers x 4096 channels, F16, no
// queries, 4 outlier channels per layer and stream) as safetensors, streaming 256 rows at a
// time. Used to measure `skvq calibrate --activations` memory on a multi-GB file:
//   node packages/interchange/bench/synthetic-capture.mjs OUT.safetensors [tokens=4096]
import { mulberry32 } from '@skvq/core';
import { captureMetadata, toHalfBits, writeSafetensors } from '@skvq/interchange';

const out = process.argv[2];
const tokens = Number(process.argv[3] ?? 4096);
if (!out || !Number.isInteger(tokens) || tokens < 1) {
  console.error('usage: synthetic-capture.mjs OUT.safetensors [tokens]');
  process.exit(2);
}
const geometry = {
  layers: 32,
  queryHeads: 32,
  kvHeads: 32,
  headDim: 128,
  rope: { style: 'half', theta: 10000 },
};
const C = 4096;
const ROWS = 256;
const halves = (seed, scale, offset) => {
  const rnd = mulberry32(seed);
  return Uint16Array.from({ length: 65536 }, () =>
    toHalfBits(
      Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd()) * scale + offset,
    ),
  );
};
const normal = halves(1, 1, 0);
const outlier = halves(2, 15, 0);
const tensors = [];
for (let l = 0; l < 32; l++) {
  for (const s of ['k', 'v']) {
    const rnd = mulberry32(1000 + 2 * l + (s === 'v' ? 1 : 0));
    const table = Array.from({ length: C }, () => normal);
    for (let i = 0; i < 4; i++) table[Math.floor(rnd() * C)] = outlier;
    tensors.push({
      name: `layers.${l}.${s}`,
      dtype: 'F16',
      shape: [tokens, C],
      data: (emit) => {
        let x = (l * 7919 + (s === 'v' ? 104729 : 0) + 1) >>> 0;
        for (let t0 = 0; t0 < tokens; t0 += ROWS) {
          const chunk = new Uint16Array(Math.min(ROWS, tokens - t0) * C);
          for (let i = 0; i < chunk.length; i++) {
            x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
            chunk[i] = table[i % C][x >>> 16];
          }
          emit(chunk);
        }
      },
    });
  }
}
const t0 = performance.now();
writeSafetensors(
  out,
  tensors,
  captureMetadata({ geometry, source: `synthetic 7B geometry, ${tokens} tokens` }),
);
console.log(`wrote ${out} (${tokens} tokens) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
