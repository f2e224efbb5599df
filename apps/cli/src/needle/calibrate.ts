import type {
  CalibrationArtifact,
  CalibrationBatch,
  KvGeometry,
  MetaFormat,
  Registry,
} from '@skvq/core';
import { type MethodSpec, needsCalibration } from '../methods.js';
import { NEEDLE_QUERY_SCALE } from './cells.js';
import { fillGaussian, haystackKeys, haystackStructure, haystackValues } from './haystack.js';

/** Alpha grid of the needle calibration (as `skvq synthetic`: coarse, to bound its cost). */
export const NEEDLE_ALPHA_GRID = [0.8, 0.85, 0.9, 0.95, 1];

/**
 * SKVQ calibrations for the needle sweep, one per (geometry, K bits, V bits), fitted on
 * haystack-like tokens: the same channel structure, a different seed, and no needles (a
 * calibration that had seen the needles would be fitted to the answer).
 */
export function needleCalibrations(options: {
  registry: Registry;
  structureSeed: number;
  seed: number;
  tokens: number;
  groupSize: number;
  meta: MetaFormat;
  log?: (line: string) => void;
}): (geometry: KvGeometry, spec: MethodSpec) => Promise<CalibrationArtifact | undefined> {
  const cache = new Map<string, CalibrationArtifact>();
  return async (geometry, spec) => {
    if (!needsCalibration(spec) || spec.kind !== 'quantized') return undefined;
    const key = `${geometry.kvHeads}:${spec.keys.bits}/${spec.values.bits}`;
    const known = cache.get(key);
    if (known) return known;
    const structure = haystackStructure(geometry, options.structureSeed);
    const count = options.tokens;
    const k = new Float32Array(count * structure.channels);
    const v = new Float32Array(count * structure.channels);
    // tokens [0, count) of a haystack drawn from another seed (count <= CHUNK_TOKENS)
    haystackKeys(structure, options.seed, 0, count, k);
    haystackValues(structure, options.seed, 0, count, v);
    const q = new Float32Array(count * geometry.queryHeads * geometry.headDim);
    fillGaussian(options.seed ^ 0x5eed, q);
    for (let i = 0; i < q.length; i++) q[i] = (q[i] as number) * NEEDLE_QUERY_SCALE;
    const batch: CalibrationBatch = {
      layer: 0,
      count,
      q,
      k,
      v,
      positions: Int32Array.from({ length: count }, (_, i) => i),
    };
    options.log?.(
      `calibrating K${spec.keys.bits}V${spec.values.bits} (${geometry.kvHeads} heads) on ${count} haystack tokens`,
    );
    const session = options.registry.get('calibrator', 'reorder').createSession({
      geometry,
      model: { name: 'needle-haystack', fingerprint: `needle:${options.structureSeed}` },
      bits: { k: spec.keys.bits, v: spec.values.bits },
      meta: options.meta,
      groupSize: options.groupSize,
      grouping: 'cluster',
      alphaGrid: NEEDLE_ALPHA_GRID,
      seed: 0,
    });
    session.observe(batch);
    const artifact = await session.finish();
    cache.set(key, artifact);
    return artifact;
  };
}
