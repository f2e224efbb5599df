// The page's model side, free of DOM: registry, caches per method, on-the-fly calibration,
// generation and perplexity. The DOM code in main.ts only renders what this returns.
import { type LlamaModel, loadLlama2c, perplexity, splitStories } from '@skvq/adapter-llama';
import { cpuBackend } from '@skvq/backend-cpu';
import { createGpujsBackend } from '@skvq/backend-gpujs';
import { createWebgpuBackend } from '@skvq/backend-webgpu';
import { kiviQuantizer, rtnQuantizer } from '@skvq/baselines';
import { createDenseCache, createQuantizedCache, type KvCache } from '@skvq/cache';
import { reorderCalibrator } from '@skvq/calibrator-reorder';
import {
  type BackendPlugin,
  type CalibrationArtifact,
  type CalibrationBatch,
  createRegistry,
  parseCalibration,
  type Registry,
} from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import type { DemoSettings } from './settings.js';

/**
 * Metadata format of the demo's quantized streams: fp8 E4M3 scale/zero, the format behind
 * the paper's 1M-token arithmetic (SKVQ.md section 5).
 */
export const DEMO_META = 'fp8e4m3' as const;
/** Calibration tokens for on-the-fly SKVQ calibration: a few stories, seconds in a browser. */
export const DEMO_CALIBRATION_TOKENS = 2048;
/** Fixed calibration seed: the same stories give the same artifact (SKVQ.md section 1). */
export const DEMO_CALIBRATION_SEED = 0;

/**
 * Tokens per quantized page: a multiple of KIVI's 32-token key block, small next to the
 * model's 512-token context so that unused page capacity does not dominate the chart.
 */
export const DEMO_PAGE_TOKENS = 32;

/**
 * The page's registry, every cache plugin and three backends in priority order: WebGPU,
 * gpu.js, CPU. gpu.js must run in WebGL2: where it would fall back to its plain-JavaScript
 * kernels its init() fails, so "auto" moves on to the CPU backend and choosing gpu.js shows
 * why. gpu.js (about 1 MB) is imported by its init(), so a page that never tries it never
 * downloads it.
 */
export function createDemoRegistry(): Registry {
  return createRegistry()
    .use(createWebgpuBackend())
    .use(createGpujsBackend({ mode: 'webgl2', require: 'webgl2' }))
    .use(cpuBackend)
    .use(groupClipQuantizer)
    .use(rtnQuantizer)
    .use(kiviQuantizer)
    .use(slidingWindowPolicy)
    .use(reorderCalibrator);
}

/** Loads a llama2.c checkpoint and its tokenizer from bytes (file picker or fetch). */
export function loadModel(model: Uint8Array, tokenizer: Uint8Array): Promise<LlamaModel> {
  return loadLlama2c(model, { tokenizer, name: 'stories260K' });
}

/** Parses a calibration JSON file for this model: another model's artifact is rejected. */
export function parseCalibrationFor(model: LlamaModel, json: string): CalibrationArtifact {
  return parseCalibration(json, {
    geometry: model.geometry,
    fingerprint: model.identity.fingerprint,
  });
}

/**
 * Calibrates SKVQ on the fly: runs the first stories through the model on a dense CPU cache,
 * feeds the captured pre-RoPE K/V to the reorder calibrator (k-means grouping, clip search).
 */
export async function calibrateOnTheFly(
  registry: Registry,
  model: LlamaModel,
  storiesText: string,
  settings: DemoSettings,
): Promise<CalibrationArtifact> {
  const tokenizer = model.tokenizer!;
  const session = registry.get('calibrator', 'reorder').createSession({
    geometry: model.geometry,
    model: model.identity,
    bits: { k: settings.keyBits, v: settings.valueBits },
    meta: DEMO_META,
    groupSize: settings.groupSize,
    grouping: 'cluster',
    seed: DEMO_CALIBRATION_SEED,
    source: 'tinystories-valid-head.txt',
  });
  let tokens = 0;
  for (const story of splitStories(storiesText)) {
    if (tokens >= DEMO_CALIBRATION_TOKENS) break;
    const ids = tokenizer.encode(story);
    const n = Math.min(ids.length, model.config.contextLength, DEMO_CALIBRATION_TOKENS - tokens);
    const cache = createDenseCache({
      geometry: model.geometry,
      precision: 'fp32',
      backend: cpuBackend,
    });
    const batches: CalibrationBatch[] = [];
    await model.forward(ids.subarray(0, n), cache, {
      logits: 'none',
      onActivations: (b) => batches.push(b),
    });
    for (const b of batches) session.observe(b);
    tokens += n;
  }
  return session.finish();
}

/** A factory of fresh caches of the chosen method on `backend`. */
export function cacheFactory(
  registry: Registry,
  backend: BackendPlugin,
  model: LlamaModel,
  settings: DemoSettings,
  calibration: CalibrationArtifact | undefined,
): () => KvCache {
  const geometry = model.geometry;
  if (settings.method === 'fp32')
    return () => createDenseCache({ geometry, precision: 'fp32', backend });
  const quantizer = registry.get('quantizer', settings.method);
  const stream = (bits: DemoSettings['keyBits']) => ({
    quantizer,
    bits,
    meta: DEMO_META,
    groupSize: settings.groupSize,
  });
  return () =>
    createQuantizedCache({
      geometry,
      backend,
      keys: stream(settings.keyBits),
      values: stream(settings.valueBits),
      policy: registry.get('policy', 'sliding-window'),
      window: settings.window,
      sinks: settings.sinks,
      pageTokens: DEMO_PAGE_TOKENS,
      // Window and sinks in fp16: the baseline the chart compares with, not fp32.
      fpPrecision: 'fp16',
      ...(settings.method === 'skvq' && calibration ? { calibration } : {}),
    });
}

/** Perplexity of `ids` (BOS first) under a cache factory: the quality of what was generated. */
export async function textPerplexity(
  model: LlamaModel,
  ids: Int32Array,
  cache: () => KvCache,
): Promise<number> {
  const result = await perplexity(model, [ids], { cache });
  return result.ppl;
}
