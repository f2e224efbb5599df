import {
  contiguousGroupOffsets,
  metaBytesPerUnit,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { bench, describe } from 'vitest';
import { dequantizeTokensReference, quantizeTokensReference } from '../src/index.js';

// Llama-2-7B-sized stream (32 KV heads x head dim 128), 64 tokens per call: the scalar
// reference's throughput, for comparison with the fast paths of the backends.
const CHANNELS = 4096;
const COUNT = 64;

const layout: TokenGroupLayout = {
  kind: 'token-group',
  channels: CHANNELS,
  bits: 2,
  meta: 'fp8e4m3',
  perm: Uint32Array.from({ length: CHANNELS }, (_, i) => (i * 37) % CHANNELS),
  groupOffsets: contiguousGroupOffsets(CHANNELS, 128),
  alpha: 0.92,
};
const x = Float32Array.from({ length: COUNT * CHANNELS }, (_, i) => Math.sin(i) * 3);
const codes = new Uint8Array(COUNT * rowCodeBytes(layout));
const meta = new Uint8Array(COUNT * metaBytesPerUnit(layout));
const out = new Float32Array(COUNT * CHANNELS);

describe('reference, 64 tokens x 4096 channels, 2 bits, fp8 meta', () => {
  bench('quantizeTokensReference', () => {
    quantizeTokensReference(layout, x, COUNT, codes, 0, meta, 0);
  });
  bench('dequantizeTokensReference', () => {
    dequantizeTokensReference(layout, codes, 0, meta, 0, COUNT, out, 0);
  });
});
