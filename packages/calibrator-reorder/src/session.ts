import {
  assertBitWidth,
  assertFinite,
  assertMetaFormat,
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CalibrationArtifact,
  type CalibrationBatch,
  type CalibrationSession,
  type CalibratorOptions,
  type CalibratorPlugin,
  calibratedLayout,
  type KvStream,
  kvHidden,
  type LayerCalibration,
  queryHidden,
  SkvqError,
  type StreamCalibration,
  validateGeometry,
} from '@skvq/core';
import type { AttentionSegment, CacheObjective } from './attention.js';
import { ChannelStats } from './channel-stats.js';
import {
  checkAlphaGrid,
  checkObjective,
  DEFAULT_ALPHA_GRID,
  searchClipRatio,
} from './clip-search.js';
import { clusterCount, groupChannels } from './grouping.js';
import {
  DEFAULT_KMEANS_MAX_ITERATIONS,
  DEFAULT_KMEANS_RESTARTS,
  DEFAULT_KMEANS_SEED,
  kmeans2d,
} from './kmeans.js';
import { assertInt, invalid } from './validate.js';

export const REORDER_CALIBRATOR_NAME = 'reorder';

/**
 * Tokens per layer kept for the clip search (the first ones observed). The search costs
 * O(tokens^2) attention per grid value, so it is bounded; statistics use every token.
 */
export const DEFAULT_SAMPLE_TOKENS = 256;

export interface ReorderCalibratorOptions extends CalibratorOptions {
  /** Tokens per layer kept for the clip search (default DEFAULT_SAMPLE_TOKENS). */
  sampleTokens?: number;
  /** Lloyd iteration cap per k-means run (default DEFAULT_KMEANS_MAX_ITERATIONS). */
  maxIterations?: number;
  /**
   * The cache the clip search measures the attention error through (window and sinks at full
   * precision for the protocol). Absent: every token quantized, the paper's objective.
   * Recorded in the artifact's settings.objective.
   */
  objective?: CacheObjective;
}

/** A growing sample segment: consecutive batches whose positions continue are one sequence. */
interface PendingSegment {
  q: Float32Array[];
  k: Float32Array[];
  v: Float32Array[];
  positions: Int32Array[];
  count: number;
  lastPosition: number;
}

function concat<T extends Float32Array | Int32Array>(parts: T[], make: (n: number) => T): T {
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Plain-function form of the calibrator: one session, fed batches, finished once. */
export function createReorderSession(options: ReorderCalibratorOptions): CalibrationSession {
  const where = 'reorder calibrator';
  const geometry = validateGeometry(options?.geometry, `${where} geometry`);
  if (typeof options.model?.name !== 'string' || typeof options.model.fingerprint !== 'string') {
    invalid(where, 'model must be { name: string, fingerprint: string }');
  }
  assertBitWidth(options.bits?.k, `${where} bits.k`);
  assertBitWidth(options.bits.v, `${where} bits.v`);
  assertMetaFormat(options.meta, where);
  const channels = kvHidden(geometry);
  const k = clusterCount(channels, options.groupSize);
  if (options.grouping !== 'cluster' && options.grouping !== 'equal') {
    invalid(where, `grouping ${String(options.grouping)}; expected cluster, equal`);
  }
  const alphaGrid = checkAlphaGrid(options.alphaGrid ?? DEFAULT_ALPHA_GRID, where);
  const seed = options.seed ?? DEFAULT_KMEANS_SEED;
  if (!Number.isInteger(seed)) invalid(where, `seed ${String(seed)} must be an integer`);
  const restarts = assertInt(options.restarts ?? DEFAULT_KMEANS_RESTARTS, 1, 'restarts', where);
  const maxIterations = assertInt(
    options.maxIterations ?? DEFAULT_KMEANS_MAX_ITERATIONS,
    0,
    'maxIterations',
    where,
  );
  const objective = options.objective ? checkObjective(options.objective, where) : undefined;
  const sampleTokens = assertInt(
    options.sampleTokens ?? DEFAULT_SAMPLE_TOKENS,
    1,
    'sampleTokens',
    where,
  );

  const stats = new ChannelStats(geometry);
  const samples: PendingSegment[][] = Array.from({ length: geometry.layers }, () => []);
  const sampled = new Uint32Array(geometry.layers);
  let finished = false;

  return {
    observe(batch: CalibrationBatch): void {
      if (finished) invalid(where, 'observe after finish(); start a new session');
      const w = `${where} batch (layer ${batch?.layer})`;
      const layer = batch.layer;
      if (!Number.isInteger(layer) || layer < 0 || layer >= geometry.layers) {
        invalid(w, `layer ${String(layer)} is out of range; expected 0..${geometry.layers - 1}`);
      }
      const count = assertInt(batch.count, 0, 'count', w);
      const sizes: [string, ArrayLike<number>, number][] = [
        ['q', batch.q, count * queryHidden(geometry)],
        ['k', batch.k, count * channels],
        ['v', batch.v, count * channels],
        ['positions', batch.positions, count],
      ];
      for (const [name, arr, expected] of sizes) {
        if (arr?.length !== expected) {
          throw new SkvqError(
            'SHAPE_MISMATCH',
            `${w}: ${name} has length ${arr?.length}; expected ${expected}`,
            { details: { name, expected } },
          );
        }
      }
      // Check everything before updating anything, so a rejected batch leaves no trace.
      assertFinite(batch.q, `${w} q`);
      assertFinite(batch.k, `${w} k`);
      assertFinite(batch.v, `${w} v`);
      stats.observe(layer, 'k', batch.k, count);
      stats.observe(layer, 'v', batch.v, count);
      const take = Math.min(count, sampleTokens - sampled[layer]!);
      if (take <= 0) return;
      const qw = queryHidden(geometry);
      const list = samples[layer]!;
      let seg = list[list.length - 1];
      if (seg === undefined || batch.positions[0] !== seg.lastPosition + 1) {
        seg = { q: [], k: [], v: [], positions: [], count: 0, lastPosition: 0 };
        list.push(seg);
      }
      seg.q.push(batch.q.slice(0, take * qw));
      seg.k.push(batch.k.slice(0, take * channels));
      seg.v.push(batch.v.slice(0, take * channels));
      seg.positions.push(batch.positions.slice(0, take));
      seg.count += take;
      seg.lastPosition = batch.positions[take - 1]!;
      sampled[layer]! += take;
    },

    finish(): CalibrationArtifact {
      if (finished) invalid(where, 'finish() was already called');
      finished = true;
      const total = geometry.layers * 2;
      let done = 0;
      const layers: LayerCalibration[] = [];
      for (let layer = 0; layer < geometry.layers; layer++) {
        const segments: AttentionSegment[] = samples[layer]!.map((s) => ({
          count: s.count,
          q: concat(s.q, (n) => new Float32Array(n)),
          k: concat(s.k, (n) => new Float32Array(n)),
          v: concat(s.v, (n) => new Float32Array(n)),
          positions: concat(s.positions, (n) => new Int32Array(n)),
        }));
        const calibrate = (stream: KvStream): StreamCalibration => {
          const st = stats.get(layer, stream);
          const points = new Float64Array(2 * channels);
          for (let c = 0; c < channels; c++) {
            points[2 * c] = st.min[c]!;
            points[2 * c + 1] = st.max[c]!;
          }
          const clusters = kmeans2d(points, k, { seed, restarts, maxIterations });
          const groups = groupChannels(
            st.min,
            st.max,
            clusters,
            options.grouping,
            options.groupSize,
          );
          const base: StreamCalibration = {
            bits: options.bits[stream],
            perm: Array.from(groups.perm),
            groupOffsets: Array.from(groups.groupOffsets),
            alpha: 1,
          };
          const layout = calibratedLayout(base, options.meta);
          const search = searchClipRatio({
            geometry,
            segments,
            stream,
            layout,
            grid: alphaGrid,
            ...(objective ? { objective } : {}),
          });
          options.onProgress?.({ stage: `layer ${layer} ${stream}`, done: ++done, total });
          return {
            ...base,
            alpha: search.alpha,
            alphaSearch: { grid: search.grid, errors: search.errors },
          };
        };
        layers.push({ k: calibrate('k'), v: calibrate('v') });
      }
      return {
        format: CALIBRATION_FORMAT,
        version: CALIBRATION_VERSION,
        model: { name: options.model.name, fingerprint: options.model.fingerprint },
        geometry,
        settings: {
          groupSize: options.groupSize,
          grouping: options.grouping,
          meta: options.meta,
          seed,
          restarts,
          alphaGrid,
          ...(objective ? { objective } : {}),
        },
        data: { source: options.source ?? 'unspecified', tokens: stats.count(0, 'k') },
        layers,
      };
    },
  };
}

/** SKVQ's calibrator for the registry: `registry.use(reorderCalibrator)`. */
export const reorderCalibrator: CalibratorPlugin = {
  kind: 'calibrator',
  name: REORDER_CALIBRATOR_NAME,
  description:
    'SKVQ calibration: per-channel min/max, k-means channel reordering, attention-output clip-ratio search',
  createSession: createReorderSession,
};
