import {
  type BitWidth,
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CalibrationArtifact,
  type KvGeometry,
  kvHidden,
  type MetaFormat,
} from '@skvq/core';
import { rng } from './oracle.js';

/** A synthetic SKVQ calibration: a random permutation per stream, equal groups, one alpha. */
export function syntheticCalibration(
  geometry: KvGeometry,
  bits: { k: BitWidth; v: BitWidth },
  groupSize: number,
  alpha: number,
  seed = 1,
  meta: MetaFormat = 'fp8e4m3',
): CalibrationArtifact {
  const r = rng(seed);
  const channels = kvHidden(geometry);
  const stream = (b: BitWidth) => {
    const perm = Array.from({ length: channels }, (_, i) => i);
    for (let i = channels - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const groupOffsets: number[] = [];
    for (let o = 0; o < channels; o += groupSize) groupOffsets.push(o);
    groupOffsets.push(channels);
    return { bits: b, perm, groupOffsets, alpha };
  };
  return {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    model: { name: 'synthetic', fingerprint: `synthetic:${seed}` },
    geometry,
    settings: { groupSize, grouping: 'equal', meta, seed, restarts: 1, alphaGrid: [alpha] },
    data: { source: 'random', tokens: 0 },
    layers: Array.from({ length: geometry.layers }, () => ({
      k: stream(bits.k),
      v: stream(bits.v),
    })),
  };
}
