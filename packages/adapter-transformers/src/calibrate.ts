// Calibration from a transformers.js decoder: run text through the ONNX session, capture
// each layer's `present.{l}.key|value`, and fit SKVQ's reordering and clip ratios with
// @skvq/calibrator-reorder. The artifact is the one `skvq calibrate` writes.
//
// Two differences from the llama2.c runtime's capture, both forced by what an ONNX decoder
// exposes: (1) keys are post-RoPE (the graph rotated them), so the artifact's geometry says
// rope 'none', matching the caches `SkvqPastKeyValues` builds, which store post-RoPE keys;
// (2) queries are not outputs of the graph, so the clip search's attention objective uses
// each token's key as its query (repeated over the query heads of its KV head). Channel
// statistics, k-means groups and the alpha grid are otherwise the same.
import { Tensor } from '@huggingface/transformers';
import { createReorderSession } from '@skvq/calibrator-reorder';
import {
  type BitWidth,
  type CalibrationArtifact,
  type CalibrationProgress,
  gqaGroup,
  type KvGeometry,
  kvHidden,
  type MetaFormat,
  type ModelIdentity,
  SkvqError,
} from '@skvq/core';
import { transformersGeometry } from './geometry.js';
import { tokenRows } from './read-cache.js';

/** The part of a transformers.js causal LM that calibration calls. */
export interface TransformersCausalLM {
  /** A PreTrainedConfig; read as the decoder fields below. */
  config: unknown;
  forward(inputs: { input_ids: Tensor; attention_mask: Tensor }): Promise<Record<string, Tensor>>;
}

export interface TransformersCalibrationOptions {
  /** Recorded in the artifact; fingerprint e.g. "sha256:<hex of onnx/model.onnx>". */
  model: ModelIdentity;
  bits: { k: BitWidth; v: BitWidth };
  /** Nominal channels per group (kvHidden / groupSize clusters). */
  groupSize: number;
  grouping?: 'cluster' | 'equal';
  meta?: MetaFormat;
  alphaGrid?: readonly number[];
  seed?: number;
  /** Stop after this many tokens (the last sequence is cut). */
  maxTokens?: number;
  /** Where the text came from (recorded in the artifact). */
  source?: string;
  onProgress?: (progress: CalibrationProgress) => void;
}

/** Default calibration budget: the llama2.c runtime's `skvq calibrate` default. */
export const DEFAULT_TRANSFORMERS_CALIBRATION_TOKENS = 16_384;

/** Proxy queries [count, queryHeads*headDim]: each KV head's key repeated over its group. */
export function keysAsQueries(k: Float32Array, count: number, geometry: KvGeometry): Float32Array {
  const { kvHeads, headDim } = geometry;
  const group = gqaGroup(geometry);
  const channels = kvHidden(geometry);
  const out = new Float32Array(count * channels * group);
  for (let t = 0; t < count; t++) {
    for (let h = 0; h < kvHeads; h++) {
      const head = k.subarray(t * channels + h * headDim, t * channels + (h + 1) * headDim);
      for (let g = 0; g < group; g++) out.set(head, ((t * kvHeads + h) * group + g) * headDim);
    }
  }
  return out;
}

/**
 * Runs each token sequence (ids, BOS included) from position 0 through `model`, feeds the
 * captured K/V to the reorder calibrator and returns the artifact.
 */
export async function calibrateTransformersModel(
  model: TransformersCausalLM,
  sequences: readonly ArrayLike<number>[],
  options: TransformersCalibrationOptions,
): Promise<CalibrationArtifact> {
  const geometry = transformersGeometry(model.config as object);
  const { layers, kvHeads, headDim } = geometry;
  const session = createReorderSession({
    geometry,
    model: options.model,
    bits: options.bits,
    meta: options.meta ?? 'fp16',
    groupSize: options.groupSize,
    grouping: options.grouping ?? 'cluster',
    ...(options.alphaGrid ? { alphaGrid: options.alphaGrid } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    source: options.source ?? 'transformers.js capture',
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const budget = options.maxTokens ?? DEFAULT_TRANSFORMERS_CALIBRATION_TOKENS;
  let tokens = 0;
  for (const ids of sequences) {
    if (tokens >= budget) break;
    const n = Math.min(ids.length, budget - tokens);
    if (n < 1) continue;
    const input = BigInt64Array.from(Array.from({ length: n }, (_, i) => BigInt(ids[i]!)));
    const out = await model.forward({
      input_ids: new Tensor('int64', input, [1, n]),
      attention_mask: new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    });
    const positions = Int32Array.from({ length: n }, (_, i) => i);
    for (let layer = 0; layer < layers; layer++) {
      const key = out[`present.${layer}.key`];
      const value = out[`present.${layer}.value`];
      if (!key || !value) {
        throw new SkvqError(
          'SHAPE_MISMATCH',
          `transformers calibration: the model returned no present.${layer}.key/value; outputs are ${Object.keys(out).join(', ')}`,
          { details: { layer, outputs: Object.keys(out) } },
        );
      }
      const k = tokenRows(key.data as Float32Array, kvHeads, n, headDim, 0);
      const v = tokenRows(value.data as Float32Array, kvHeads, n, headDim, 0);
      session.observe({ layer, count: n, q: keysAsQueries(k, n, geometry), k, v, positions });
    }
    tokens += n;
  }
  if (tokens === 0) {
    throw new SkvqError('INVALID_ARGUMENT', 'transformers calibration: no tokens to calibrate on');
  }
  return { ...(await session.finish()), createdAt: new Date().toISOString() };
}
