import type { LlamaModel } from '@skvq/adapter-llama';
import { createDenseCache } from '@skvq/cache';
import {
  type AttentionSegment,
  type CacheObjective,
  type ReorderCalibratorOptions,
  searchClipRatio,
} from '@skvq/calibrator-reorder';
import {
  type BackendPlugin,
  type BitWidth,
  type CalibrationArtifact,
  type CalibrationBatch,
  calibratedLayout,
  contiguousGroupOffsets,
  kvHidden,
  type MetaFormat,
  type Registry,
  SkvqError,
  type StreamCalibration,
} from '@skvq/core';

/** Default number of calibration tokens (`--tokens`): enough for stable per-channel min/max. */
export const DEFAULT_CALIBRATION_TOKENS = 16_384;
export const DEFAULT_CALIBRATION_SEED = 0;

/** Activations captured once and replayed into as many calibration sessions as needed. */
export interface CapturedActivations {
  batches: CalibrationBatch[];
  tokens: number;
  stories: number;
  source: string;
}

/**
 * Runs calibration stories through the model on a dense fp32 cache and keeps what the
 * capture hook (`onActivations`) hands out, until `maxTokens` tokens were seen (the last
 * story is cut there). Each story is one sequence from position 0.
 */
export async function captureActivations(
  backend: BackendPlugin,
  model: LlamaModel,
  stories: readonly string[],
  maxTokens: number,
  source: string,
  onProgress?: (done: number, total: number) => void,
): Promise<CapturedActivations> {
  const tokenizer = model.tokenizer;
  if (!tokenizer) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      'calibration from text needs the model tokenizer; pass --tokenizer',
    );
  }
  const batches: CalibrationBatch[] = [];
  let tokens = 0;
  let used = 0;
  for (const story of stories) {
    if (tokens >= maxTokens) break;
    const ids = tokenizer.encode(story);
    const n = Math.min(ids.length, model.config.contextLength, maxTokens - tokens);
    if (n < 1) continue;
    const cache = createDenseCache({ geometry: model.geometry, precision: 'fp32', backend });
    await model.forward(ids.subarray(0, n), cache, {
      logits: 'none',
      onActivations: (batch) => batches.push(batch),
    });
    tokens += n;
    used++;
    onProgress?.(tokens, maxTokens);
  }
  if (tokens === 0) throw new SkvqError('INVALID_ARGUMENT', 'calibration text produced no tokens');
  return { batches, tokens, stories: used, source };
}

export interface CalibrationSettings {
  bits: { k: BitWidth; v: BitWidth };
  meta: MetaFormat;
  groupSize: number;
  grouping: 'cluster' | 'equal';
  alphaGrid?: readonly number[];
  seed: number;
  /** The cache the clip search models (window/sinks at full precision); absent: all quantized. */
  objective?: CacheObjective;
  /** Tokens per layer the clip search uses (the calibrator's default when absent). */
  sampleTokens?: number;
}

/**
 * Clip-search settings that go with an objective. With the cache objective (window and
 * sinks at full precision) the grid is widened and the search sees more tokens: chosen by
 * held-out decode perplexity, docs/results/calibration. The paper's objective keeps the
 * calibrator's defaults (grid 0.80..1.00, 256 tokens per layer).
 */
export function calibrationDefaults(
  objective: CacheObjective | undefined,
): Pick<CalibrationSettings, 'objective' | 'alphaGrid' | 'sampleTokens'> {
  if (!objective) return {};
  return {
    objective,
    alphaGrid: CACHE_OBJECTIVE_GRID,
    sampleTokens: CACHE_OBJECTIVE_SAMPLE_TOKENS,
  };
}

/** Clip ratios searched with the cache objective: 0.50, 0.52, ..., 1.00. */
export const CACHE_OBJECTIVE_GRID: readonly number[] = Object.freeze(
  Array.from({ length: 26 }, (_, i) => (50 + 2 * i) / 100),
);
/** Tokens per layer for the clip search with the cache objective (about four stories). */
export const CACHE_OBJECTIVE_SAMPLE_TOKENS = 1024;

/** Fits reorder + clip ratios with the registry's "reorder" calibrator on captured data. */
export async function calibrateCaptured(
  registry: Registry,
  model: LlamaModel,
  captured: CapturedActivations,
  settings: CalibrationSettings,
): Promise<CalibrationArtifact> {
  const calibrator = registry.get('calibrator', 'reorder');
  const options: ReorderCalibratorOptions = {
    geometry: model.geometry,
    model: model.identity,
    bits: settings.bits,
    meta: settings.meta,
    groupSize: settings.groupSize,
    grouping: settings.grouping,
    ...(settings.alphaGrid ? { alphaGrid: settings.alphaGrid } : {}),
    seed: settings.seed,
    source: captured.source,
    ...(settings.objective ? { objective: settings.objective } : {}),
    ...(settings.sampleTokens ? { sampleTokens: settings.sampleTokens } : {}),
  };
  // the reorder calibrator reads objective and sampleTokens; others ignore them
  const session = calibrator.createSession(options);
  for (const batch of captured.batches) session.observe(batch);
  const artifact = await session.finish();
  return { ...artifact, createdAt: new Date().toISOString() };
}

/** Per-layer attention samples for the clip search: the first `maxTokens` of each layer. */
function layerSegments(
  captured: CapturedActivations,
  layer: number,
  maxTokens: number,
): AttentionSegment[] {
  const out: AttentionSegment[] = [];
  let taken = 0;
  for (const b of captured.batches) {
    if (b.layer !== layer || taken >= maxTokens) continue;
    const n = Math.min(b.count, maxTokens - taken);
    const qw = b.q.length / b.count;
    const kw = b.k.length / b.count;
    out.push({
      count: n,
      q: b.q.subarray(0, n * qw),
      k: b.k.subarray(0, n * kw),
      v: b.v.subarray(0, n * kw),
      positions: b.positions.subarray(0, n),
    });
    taken += n;
  }
  return out;
}

/** Tokens per layer the no-reorder ablation searches alpha on (the calibrator's default). */
const ABLATION_SAMPLE_TOKENS = 256;

/**
 * The "reorder off" ablation of an artifact: identity channel order and contiguous groups of
 * groupSize (RTN's grouping), with the clip ratio searched again for that grouping on the
 * same samples and objective, so only the reordering differs.
 */
export function withoutReorder(
  artifact: CalibrationArtifact,
  captured: CapturedActivations,
): CalibrationArtifact {
  const geometry = artifact.geometry;
  const channels = kvHidden(geometry);
  const offsets = Array.from(contiguousGroupOffsets(channels, artifact.settings.groupSize));
  const identity = Array.from({ length: channels }, (_, i) => i);
  const layers = artifact.layers.map((layer, l) => {
    const segments = layerSegments(captured, l, ABLATION_SAMPLE_TOKENS);
    const redo = (stream: 'k' | 'v'): StreamCalibration => {
      const base: StreamCalibration = {
        bits: layer[stream].bits,
        perm: identity,
        groupOffsets: offsets,
        alpha: 1,
      };
      const search = searchClipRatio({
        geometry,
        segments,
        stream,
        layout: calibratedLayout(base, artifact.settings.meta),
        grid: artifact.settings.alphaGrid,
      });
      return {
        ...base,
        alpha: search.alpha,
        alphaSearch: { grid: search.grid, errors: search.errors },
      };
    };
    return { k: redo('k'), v: redo('v') };
  });
  return { ...artifact, layers };
}

/** Number of groups of each layer's K and V (for summaries). */
export function groupsPerLayer(artifact: CalibrationArtifact): Array<{ k: number; v: number }> {
  return artifact.layers.map((l) => ({
    k: l.k.groupOffsets.length - 1,
    v: l.v.groupOffsets.length - 1,
  }));
}

/**
 * Attention-output error (relative, on the calibration samples) of each layer and stream:
 * plain = contiguous groups, alpha 1 (RTN); reordered = calibrated groups, alpha 1;
 * calibrated = calibrated groups and the chosen alpha (what the artifact stores).
 */
export function attentionErrorSummary(
  artifact: CalibrationArtifact,
  captured: CapturedActivations,
): Array<
  Record<'k' | 'v', { alpha: number; plain: number; reordered: number; calibrated: number }>
> {
  const geometry = artifact.geometry;
  const channels = kvHidden(geometry);
  const offsets = Array.from(contiguousGroupOffsets(channels, artifact.settings.groupSize));
  const identity = Array.from({ length: channels }, (_, i) => i);
  const meta = artifact.settings.meta;
  return artifact.layers.map((layer, l) => {
    const segments = layerSegments(captured, l, ABLATION_SAMPLE_TOKENS);
    const errorOf = (stream: 'k' | 'v', s: StreamCalibration, alpha: number) =>
      searchClipRatio({
        geometry,
        segments,
        stream,
        layout: calibratedLayout(s, meta),
        grid: [alpha],
      }).error;
    const one = (stream: 'k' | 'v') => {
      const s = layer[stream];
      const plain: StreamCalibration = {
        bits: s.bits,
        perm: identity,
        groupOffsets: offsets,
        alpha: 1,
      };
      return {
        alpha: s.alpha,
        plain: errorOf(stream, plain, 1),
        reordered: errorOf(stream, s, 1),
        calibrated: errorOf(stream, s, s.alpha),
      };
    };
    return { k: one('k'), v: one('v') };
  });
}

/** Attention error of each layer/stream before (alpha 1) and after the clip search. */
export function clipErrors(artifact: CalibrationArtifact): Array<{
  k: { alpha: number; before: number; after: number };
  v: { alpha: number; before: number; after: number };
}> {
  const one = (s: StreamCalibration) => {
    const grid = s.alphaSearch?.grid ?? [];
    const errors = s.alphaSearch?.errors ?? [];
    const at1 = grid.indexOf(1);
    const chosen = grid.indexOf(s.alpha);
    return {
      alpha: s.alpha,
      before: at1 >= 0 ? errors[at1]! : Number.NaN,
      after: chosen >= 0 ? errors[chosen]! : Number.NaN,
    };
  };
  return artifact.layers.map((l) => ({ k: one(l.k), v: one(l.v) }));
}
