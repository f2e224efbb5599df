import { cpuBackend } from '@skvq/backend-cpu';
import { createQuantizedCache } from '@skvq/cache';
import {
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CalibrationArtifact,
  contiguousGroupOffsets,
  type KvGeometry,
} from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import { describe, expect, it } from 'vitest';
import { readLayer, tokenRows } from '../src/read-cache.js';

const geometry: KvGeometry = {
  layers: 1,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 4,
  rope: { style: 'none', theta: 10000 },
};
const channels = 8;

/** Identity order, contiguous groups of 4, no clipping: a plain 8-bit per-token quantizer. */
function calibration(bits: 8 | 2): CalibrationArtifact {
  const stream = {
    bits,
    perm: Array.from({ length: channels }, (_, i) => i),
    groupOffsets: Array.from(contiguousGroupOffsets(channels, 4)),
    alpha: 1,
  };
  return {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    model: { name: 'synthetic', fingerprint: 'sha256:0' },
    geometry,
    settings: {
      groupSize: 4,
      grouping: 'equal',
      meta: 'fp32',
      seed: 0,
      restarts: 1,
      alphaGrid: [1],
    },
    data: { source: 'synthetic', tokens: 0 },
    layers: [{ k: stream, v: stream }],
  };
}

/** Token t, channel c (head-major inside the token): a value that names both. */
const value = (t: number, c: number) => Math.sin(t * 1.7 + c * 0.37) * (1 + c);

describe('readLayer / tokenRows', () => {
  it('tokenRows takes [heads, total, headDim] rows from `first` into token-major rows', () => {
    const total = 3;
    const data = new Float32Array(2 * total * 4).map((_, i) => i);
    // token 1 of head 0 is at 1*4.., of head 1 at (3 + 1)*4..
    expect(Array.from(tokenRows(data, 2, total, 4, 2))).toEqual([8, 9, 10, 11, 20, 21, 22, 23]);
  });

  it('places sinks, packed pages and the window back by position, head-major', () => {
    const cache = createQuantizedCache({
      geometry,
      backend: cpuBackend,
      keys: { quantizer: groupClipQuantizer, bits: 8, meta: 'fp32', groupSize: 4 },
      values: { quantizer: groupClipQuantizer, bits: 8, meta: 'fp32', groupSize: 4 },
      policy: slidingWindowPolicy,
      window: 3,
      sinks: 2,
      calibration: calibration(8),
      keysPreRope: false,
      pageTokens: 4,
      // fp32 sinks and window: those rows must read back exactly
      fpPrecision: 'fp32',
    });
    const n = 13;
    const rows = new Float32Array(n * channels).map((_, i) =>
      value(Math.floor(i / channels), i % channels),
    );
    // appended in uneven chunks, as prefill then decode steps would
    for (const [start, count] of [
      [0, 6],
      [6, 1],
      [7, 4],
      [11, 2],
    ] as const) {
      const chunk = rows.slice(start * channels, (start + count) * channels);
      cache.append(
        0,
        chunk,
        chunk.map((x) => -x),
        count,
      );
    }
    expect(cache.describe().layers[0]!.quantized.k).toBe(n - 3 - 2);
    const keys = readLayer(cache, cpuBackend, 0, 'keys');
    const values = readLayer(cache, cpuBackend, 0, 'values');
    for (let t = 0; t < n; t++) {
      const exact = t < 2 || t >= n - 3;
      for (let h = 0; h < 2; h++) {
        for (let d = 0; d < 4; d++) {
          const want = value(t, h * 4 + d);
          const k = keys[(h * n + t) * 4 + d]!;
          const v = values[(h * n + t) * 4 + d]!;
          if (exact) {
            expect(k).toBe(Math.fround(want));
            expect(v).toBe(Math.fround(-want));
          } else {
            // 8-bit per-token groups of 4: error below one step of a group's range / 255
            expect(Math.abs(k - want)).toBeLessThan(0.05);
            expect(Math.abs(v + want)).toBeLessThan(0.05);
          }
        }
      }
    }
  });
});
