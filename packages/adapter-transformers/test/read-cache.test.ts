import { createOpaqueStoreBackend } from '@skvq/backend-conformance';
import { cpuBackend } from '@skvq/backend-cpu';
import { createDenseCache, createQuantizedCache } from '@skvq/cache';
import {
  type BackendPlugin,
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CalibrationArtifact,
  contiguousGroupOffsets,
  isSkvqError,
  type KvGeometry,
} from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import { describe, expect, it } from 'vitest';
import { readLayer, readLayerAsync, tokenRows } from '../src/read-cache.js';

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

  it('places sinks, packed pages and the window back by position, head-major', async () => {
    const cache = await filledCache(cpuBackend);
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

  it('readLayerAsync reads a cache kept in device memory back through its storage', async () => {
    // device storage whose reads are promises (like WebGPU): segments() would refuse it
    const device = createOpaqueStoreBackend(cpuBackend, { asyncReads: true });
    const onDevice = await filledCache(device);
    const onHost = await filledCache(cpuBackend);
    for (const stream of ['keys', 'values'] as const) {
      const got = await readLayerAsync(onDevice, device, 0, stream);
      expect(got).toEqual(readLayer(onHost, cpuBackend, 0, stream));
      expect(await readLayerAsync(onHost, cpuBackend, 0, stream)).toEqual(got);
    }
    // the synchronous read (what transformers.js feeds use) says why it cannot
    let code = 'no error';
    try {
      readLayer(onDevice, device, 0, 'keys');
    } catch (error) {
      code = isSkvqError(error) ? error.code : String(error);
    }
    expect(code).toBe('STORAGE_READ_ASYNC');
  });

  it('readLayerAsync reads a dense cache in device memory', async () => {
    const device = createOpaqueStoreBackend(cpuBackend, { asyncReads: true });
    const dense = createDenseCache({
      geometry,
      precision: 'fp32',
      backend: device,
      keysPreRope: false,
    });
    const rows = new Float32Array(5 * channels).map((_, i) =>
      value(Math.floor(i / channels), i % channels),
    );
    await dense.append(0, rows, rows, 5);
    const keys = await readLayerAsync(dense, device, 0, 'keys');
    // token 3, head 1, dim 2 sits at (1 * 5 + 3) * 4 + 2
    expect(keys[(1 * 5 + 3) * 4 + 2]).toBe(Math.fround(value(3, 4 + 2)));
  });
});

const n = 13;

/** 13 tokens through sinks 2, window 3 and 8-bit pages of 4 tokens, on `backend`. */
async function filledCache(backend: BackendPlugin) {
  const cache = createQuantizedCache({
    geometry,
    backend,
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
    await cache.append(
      0,
      chunk,
      chunk.map((x) => -x),
      count,
    );
  }
  return cache;
}
