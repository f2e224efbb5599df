// The quantized cache on a backend with device storage, against the same cache on the CPU
// reference backend (host storage): attention within the tolerance, byte accounting and
// saved files identical (store quantization is bit exact, window rows are converted on the
// host), save/load through the store, and the bytes one decode step moves.
import { cpuReferenceBackend } from '@skvq/backend-cpu';
import { kiviQuantizer } from '@skvq/baselines';
import {
  createQuantizedCache,
  loadCache,
  type QuantizedCache,
  type QuantizedCacheOptions,
  saveCache,
  saveCacheAsync,
} from '@skvq/cache';
import {
  type BackendPlugin,
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CalibrationArtifact,
  type KvGeometry,
  kvHidden,
  mulberry32,
  type PolicyDecision,
  queryHidden,
  SkvqError,
  type TokenPolicy,
  transferStatsOf,
} from '@skvq/core';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import { firstDifference, relativeError } from './compare.js';
import { randomTokens } from './generators.js';
import { randomPermutation } from './rng.js';
import type { StoreCheck } from './store-checks.js';

class CacheCheckFailure extends Error {}

const GEOMETRY: KvGeometry = {
  layers: 2,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 16,
  rope: { style: 'pairwise', theta: 10000 },
};

/** SKVQ calibration stand-in: a random permutation per stream, equal groups, one alpha. */
function calibration(geometry: KvGeometry, groupSize: number, seed: number): CalibrationArtifact {
  const rng = mulberry32(seed);
  const channels = kvHidden(geometry);
  const stream = (bits: 2 | 1.5) => {
    const groupOffsets: number[] = [];
    for (let o = 0; o < channels; o += groupSize) groupOffsets.push(o);
    groupOffsets.push(channels);
    return { bits, perm: Array.from(randomPermutation(rng, channels)), groupOffsets, alpha: 0.95 };
  };
  return {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    model: { name: 'store-conformance', fingerprint: `store-conformance:${seed}` },
    geometry,
    settings: {
      groupSize,
      grouping: 'equal',
      meta: 'fp8e4m3',
      seed,
      restarts: 1,
      alphaGrid: [0.95],
    },
    data: { source: 'random', tokens: 0 },
    layers: Array.from({ length: geometry.layers }, () => ({ k: stream(2), v: stream(1.5) })),
  };
}

/**
 * A FIFO window with sinks that also keeps every 7th token at full precision (a filter
 * rule: those tokens are copied inside the store when they leave the window).
 */
function fifo(window: number, sinks: number): TokenPolicy {
  let left = 0;
  return {
    window,
    sinks,
    admit(start: number, count: number): PolicyDecision {
      const leaveEnd = Math.max(0, start + count - window);
      const quantize: number[] = [];
      const keep: number[] = [];
      for (let p = left; p < leaveEnd; p++) (p < sinks || p % 7 === 0 ? keep : quantize).push(p);
      left = Math.max(left, leaveEnd);
      return { quantize: Int32Array.from(quantize), keep: Int32Array.from(keep) };
    },
    reset() {
      left = 0;
    },
  };
}

type Method = 'skvq' | 'kivi-k+skvq-v';

function cacheOptions(
  geometry: KvGeometry,
  backend: BackendPlugin,
  method: Method,
  fpPrecision: 'fp16' | 'fp32',
  prefillAttention: 'quantized' | 'original' = 'quantized',
  window = 8,
): QuantizedCacheOptions {
  const group = Math.min(16, kvHidden(geometry));
  const skvq = (bits: 2 | 1.5) => ({
    quantizer: groupClipQuantizer,
    bits,
    meta: 'fp8e4m3' as const,
    groupSize: group,
  });
  return {
    geometry,
    backend,
    policy: () => fifo(window, 3),
    pageTokens: 32,
    fpPrecision,
    prefillAttention,
    calibration: calibration(geometry, group, 3),
    keys:
      method === 'skvq'
        ? skvq(2)
        : { quantizer: kiviQuantizer, bits: 2, meta: 'fp16', groupSize: group },
    values: skvq(1.5),
  };
}

function close(got: Float32Array, want: Float32Array, tolerance: number, what: string): number {
  const error = relativeError(got, want);
  if (!(error <= tolerance)) {
    throw new CacheCheckFailure(`${what}: relative error ${error} > ${tolerance}`);
  }
  return error;
}

function sameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  const at = firstDifference(got, want);
  if (at !== -1) {
    throw new CacheCheckFailure(
      `${what}: saved files differ at byte ${at} (lengths ${got.length} and ${want.length})`,
    );
  }
}

function sameJson(got: unknown, want: unknown, what: string): void {
  const a = JSON.stringify(got);
  const b = JSON.stringify(want);
  if (a !== b) throw new CacheCheckFailure(`${what}: ${a} != ${b}`);
}

/**
 * Feeds both caches the same prompt (two chunks) and decode steps on every layer, checking
 * prefill and decode attention at each step; returns the largest relative error.
 */
async function drive(
  device: QuantizedCache,
  reference: QuantizedCache,
  prompt: readonly number[],
  steps: number,
  seed: number,
  tolerance: number,
): Promise<number> {
  const ch = kvHidden(GEOMETRY);
  const qh = queryHidden(GEOMETRY);
  const rng = mulberry32(seed);
  let worst = 0;
  for (const count of [...prompt, ...Array.from({ length: steps }, () => 1)]) {
    const start = reference.length(0);
    const k = randomTokens(rng, count, ch);
    const v = randomTokens(rng, count, ch);
    const q = randomTokens(rng, count, qh);
    for (let layer = 0; layer < GEOMETRY.layers; layer++) {
      await device.append(layer, k, v, count);
      await reference.append(layer, k, v, count);
      const [got, want] =
        count === 1
          ? [await device.attend(layer, q, start), await reference.attend(layer, q, start)]
          : [
              await device.attendPrefill(layer, q, start, count),
              await reference.attendPrefill(layer, q, start, count),
            ];
      worst = Math.max(worst, close(got, want, tolerance, `layer ${layer} at ${start}+${count}`));
    }
  }
  return worst;
}

function cacheCheck(
  name: string,
  method: Method,
  fp: 'fp16' | 'fp32',
  mode: 'quantized' | 'original',
  tolerance: number,
): StoreCheck {
  return {
    area: 'cache',
    name,
    run: async (backend) => {
      const device = createQuantizedCache(cacheOptions(GEOMETRY, backend, method, fp, mode));
      const reference = createQuantizedCache(
        cacheOptions(GEOMETRY, cpuReferenceBackend, method, fp, mode),
      );
      let worst = await drive(device, reference, [30, 21], 20, 7, tolerance);
      sameJson(device.bytes(), reference.bytes(), 'bytes()');
      const file = saveCache(reference);
      sameBytes(await saveCacheAsync(device), file, 'saveCacheAsync vs the reference saveCache');
      const loaded = loadCache(file, cacheOptions(GEOMETRY, backend, method, fp, mode));
      sameBytes(await saveCacheAsync(loaded), file, 'saved again after loadCache');
      worst = Math.max(worst, await drive(loaded, reference, [5], 10, 8, tolerance));
      sameBytes(await saveCacheAsync(loaded), saveCache(reference), 'after more tokens');
      device.reset();
      loaded.reset();
      return worst;
    },
  };
}

/**
 * One steady-state decode step (append one token + attend) on a one-layer cache of
 * `context` tokens: the bytes it moves between host and device. The contract says a step
 * moves nothing proportional to the context; it does not say when a backend builds what
 * it attends through, and a storage may build its tables lazily (WebGPU uploads its
 * position index on the first attend after a prefill that never attended; kernels compile
 * on first use). So one warm-up step runs first and the next one is measured.
 */
async function decodeStepTransfer(backend: BackendPlugin, context: number) {
  const geometry: KvGeometry = { ...GEOMETRY, layers: 1, queryHeads: 2, kvHeads: 1, headDim: 8 };
  const ch = kvHidden(geometry);
  const options = cacheOptions(geometry, backend, 'skvq', 'fp16', 'quantized', 128);
  const cache = createQuantizedCache(options);
  const rng = mulberry32(context);
  const chunk = 4096;
  for (let done = 0; done < context; done += chunk) {
    const n = Math.min(chunk, context - done);
    await cache.append(0, randomTokens(rng, n, ch), randomTokens(rng, n, ch), n);
  }
  const step = async (at: number) => {
    await cache.append(0, randomTokens(rng, 1, ch), randomTokens(rng, 1, ch), 1);
    await cache.attend(0, randomTokens(rng, 1, queryHidden(geometry)), at);
  };
  await step(context);
  const before = transferStatsOf(backend);
  await step(context + 1);
  const after = transferStatsOf(backend);
  cache.reset();
  return {
    toDevice: after.bytesToDevice - before.bytesToDevice,
    fromDevice: after.bytesFromDevice - before.bytesFromDevice,
  };
}

/** Cached tokens the transfer check compares one decode step at. */
export const DEFAULT_TRANSFER_CONTEXTS: readonly [number, number] = [4096, 32768];

export function storeCacheChecks(
  tolerance: number,
  transferContexts: readonly [number, number] = DEFAULT_TRANSFER_CONTEXTS,
): StoreCheck[] {
  const [smallContext, largeContext] = transferContexts;
  // The policy keeps every 7th token and pages hold 32: at contexts in the same phase of
  // both, the measured step does the same work (a kept token is copied in the store, a
  // quantized one reads back the kernel's error word on CUDA), so only the context differs.
  if (
    !Number.isSafeInteger(smallContext) ||
    !Number.isSafeInteger(largeContext) ||
    smallContext < 256 ||
    (largeContext - smallContext) % (7 * 32) !== 0
  ) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `store conformance transferContexts ${smallContext} and ${largeContext}: integers >= 256 whose difference is a multiple of 224 (7 x 32), e.g. 4096 and 32768`,
    );
  }
  const tokens = (n: number) => n.toLocaleString('en-US');
  return [
    cacheCheck(
      'QuantizedCache (SKVQ K2 V1.5, fp16 window) equals the CPU reference cache: prefill, decode, bytes, save/load bit for bit',
      'skvq',
      'fp16',
      'quantized',
      tolerance,
    ),
    cacheCheck(
      'QuantizedCache (KIVI keys + SKVQ values, fp32 window) equals the CPU reference cache',
      'kivi-k+skvq-v',
      'fp32',
      'quantized',
      tolerance,
    ),
    cacheCheck(
      "QuantizedCache with prefillAttention 'original' equals the CPU reference cache",
      'kivi-k+skvq-v',
      'fp16',
      'original',
      tolerance,
    ),
    {
      area: 'transfers',
      name: `one decode step (append 1 token + attend, after a warm-up step) moves the same bytes at ${tokens(smallContext)} and ${tokens(largeContext)} cached tokens`,
      run: async (backend) => {
        const small = await decodeStepTransfer(backend, smallContext);
        const large = await decodeStepTransfer(backend, largeContext);
        if (small.toDevice !== large.toDevice || small.fromDevice !== large.fromDevice) {
          throw new CacheCheckFailure(
            `${tokens(smallContext)} tokens: ${small.toDevice} bytes up, ${small.fromDevice} down; ${tokens(largeContext)} tokens: ${large.toDevice} up, ${large.fromDevice} down`,
          );
        }
        return 0;
      },
    },
  ];
}
