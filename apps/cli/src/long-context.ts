import { createQuantizedCache, type KvCache } from '@skvq/cache';
import {
  type BackendPlugin,
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CacheBytes,
  type CalibrationArtifact,
  type KvGeometry,
  kvHidden,
  LLAMA2_7B_LAYER,
  type Registry,
} from '@skvq/core';
import { splitBits } from './bits-split.js';
import { syntheticKv } from './synthetic.js';

/** SKVQ.md section 5's long-context setting: K2 V1.5, group 128, fp8 scale/zero. */
export const LONG_CONTEXT_SETTINGS = {
  keyBits: 2,
  valueBits: 1.5,
  groupSize: 128,
  meta: 'fp8e4m3',
  window: 128,
  sinks: 5,
} as const;
/**
 * Tokens per append while filling (a prefill chunk); the data repeats every two chunks, since
 * drawing 32k tokens of Gaussians would take longer than quantizing them, and the bytes a
 * cache holds do not depend on the values.
 */
const FILL_CHUNK = 512;

export interface LongContextMemory {
  geometry: KvGeometry;
  tokens: number;
  bytes: CacheBytes;
  /** bytes.total - pageSlack: what the cache holds. */
  heldBytes: number;
  /** The same tokens in an fp16 cache (2 bytes per element). */
  fp16Bytes: number;
  bitsHeld: number;
  codesMetaBits: number;
  fillSeconds: number;
}

/**
 * A layout-only calibration (identity channel order, contiguous groups of 128, alpha 1): the
 * bytes a cache holds do not depend on which permutation or clip ratio it uses.
 */
function layoutCalibration(geometry: KvGeometry): CalibrationArtifact {
  const channels = kvHidden(geometry);
  const { groupSize, meta } = LONG_CONTEXT_SETTINGS;
  const stream = (bits: 2 | 1.5) => ({
    bits,
    perm: Array.from({ length: channels }, (_, i) => i),
    groupOffsets: Array.from({ length: channels / groupSize + 1 }, (_, g) => g * groupSize),
    alpha: 1,
  });
  return {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    model: { name: 'llama2-7b-layer (synthetic)', fingerprint: 'synthetic:layout-only' },
    geometry,
    settings: { groupSize, grouping: 'equal', meta, seed: 0, restarts: 1, alphaGrid: [1] },
    data: { source: 'layout only', tokens: 0 },
    layers: Array.from({ length: geometry.layers }, () => ({ k: stream(2), v: stream(1.5) })),
  };
}

/**
 * Fills a real SKVQ cache of one Llama-2-7B layer (32 KV heads x 128) with `tokens` synthetic
 * tokens in prefill chunks and reads what it holds: the long-context memory figure of the
 * demo, measured from the cache's own byte accounting rather than computed.
 */
export async function measureLongContextMemory(
  registry: Registry,
  backend: BackendPlugin,
  tokens: number,
): Promise<LongContextMemory> {
  const geometry = LLAMA2_7B_LAYER;
  const s = LONG_CONTEXT_SETTINGS;
  const quantizer = registry.get('quantizer', 'skvq');
  const cache: KvCache = createQuantizedCache({
    geometry,
    backend,
    keys: { quantizer, bits: s.keyBits, meta: s.meta, groupSize: s.groupSize },
    values: { quantizer, bits: s.valueBits, meta: s.meta, groupSize: s.groupSize },
    policy: registry.get('policy', 'sliding-window'),
    window: s.window,
    sinks: s.sinks,
    calibration: layoutCalibration(geometry),
    fpPrecision: 'fp16',
  });
  const pool = [syntheticKv(geometry, FILL_CHUNK, 11), syntheticKv(geometry, FILL_CHUNK, 12)];
  const started = performance.now();
  for (let done = 0, i = 0; done < tokens; i++) {
    const n = Math.min(FILL_CHUNK, tokens - done);
    const chunk = pool[i % 2]!;
    const ch = kvHidden(geometry);
    await cache.append(0, chunk.k.subarray(0, n * ch), chunk.v.subarray(0, n * ch), n);
    done += n;
  }
  const fillSeconds = (performance.now() - started) / 1000;
  const bytes = cache.bytes();
  const split = splitBits(cache);
  const heldBytes = bytes.total - bytes.pageSlack;
  return {
    geometry,
    tokens,
    bytes,
    heldBytes,
    fp16Bytes: bytes.elements * 2,
    bitsHeld: (8 * heldBytes) / bytes.elements,
    codesMetaBits: (8 * split.codesMetaBytes) / split.codesMetaElements,
    fillSeconds,
  };
}
