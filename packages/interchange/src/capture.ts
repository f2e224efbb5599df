import { type CalibrationBatch, SkvqError } from '@skvq/core';
import type { KeysState } from './plan.js';
import type { TensorToWrite, WriteDtype } from './write.js';

export interface CaptureTensorsOptions {
  /** Element type of q/k/v (default F32: exact; F16 / BF16 halve the file). */
  dtype?: Exclude<WriteDtype, 'I32'>;
  /** Include the queries (layers.{i}.q) so the clip search uses real ones (default true). */
  queries?: boolean;
}

/**
 * Turns captured batches (the adapter's `onActivations`, any number per layer, in order)
 * into the tensors of the activation naming scheme: `layers.{i}.q|k|v` [tokens, hidden] and
 * one `positions` I32 [tokens]. Every layer must have seen the same positions, as a forward
 * pass guarantees. Batches are referenced, not copied: the file writer streams them.
 */
export function captureTensors(
  batches: readonly CalibrationBatch[],
  options: CaptureTensorsOptions = {},
): TensorToWrite[] {
  const dtype = options.dtype ?? 'F32';
  const byLayer: CalibrationBatch[][] = [];
  for (const b of batches) {
    const list = byLayer[b.layer] ?? [];
    list.push(b);
    byLayer[b.layer] = list;
  }
  if (byLayer.length === 0) {
    throw new SkvqError('INVALID_ARGUMENT', 'captureTensors: no batches were captured');
  }
  const positions = (byLayer[0] ?? []).map((b) => b.positions);
  const tokens = positions.reduce((n, p) => n + p.length, 0);
  const out: TensorToWrite[] = [];
  for (let layer = 0; layer < byLayer.length; layer++) {
    const list = byLayer[layer];
    if (!list) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `captureTensors: no batch of layer ${layer} was captured`,
        { details: { layer } },
      );
    }
    const flat = list.flatMap((b) => Array.from(b.positions));
    const same =
      flat.length === tokens &&
      positions.flatMap((p) => Array.from(p)).every((x, i) => x === flat[i]);
    if (!same) {
      throw new SkvqError(
        'SHAPE_MISMATCH',
        `captureTensors: layer ${layer} saw other positions than layer 0; expected ${tokens} tokens at the same positions`,
        {
          details: { layer, expected: tokens, actual: flat.length },
        },
      );
    }
    const width = (name: 'q' | 'k' | 'v') => list[0]![name].length / list[0]!.count;
    const roles = options.queries === false ? (['k', 'v'] as const) : (['q', 'k', 'v'] as const);
    for (const r of roles) {
      out.push({
        name: `layers.${layer}.${r}`,
        dtype,
        shape: [tokens, width(r)],
        data: list.map((b) => b[r]),
      });
    }
  }
  out.push({ name: 'positions', dtype: 'I32', shape: [tokens], data: positions });
  return out;
}

/** Metadata for a capture, in the keys `skvq calibrate --activations` reads. */
export function captureMetadata(info: {
  geometry: {
    layers: number;
    queryHeads: number;
    kvHeads: number;
    headDim: number;
    rope: { style: string; theta: number };
  };
  keys?: KeysState;
  model?: { name: string; fingerprint: string };
  source?: string;
}): Record<string, string> {
  const g = info.geometry;
  return {
    layers: String(g.layers),
    query_heads: String(g.queryHeads),
    kv_heads: String(g.kvHeads),
    head_dim: String(g.headDim),
    rope_style: g.rope.style,
    rope_theta: String(g.rope.theta),
    keys: info.keys ?? 'pre-rope',
    ...(info.model ? { model: info.model.name, fingerprint: info.model.fingerprint } : {}),
    ...(info.source !== undefined ? { source: info.source } : {}),
  };
}
