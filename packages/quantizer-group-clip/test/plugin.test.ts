import {
  type CalibrationArtifact,
  isSkvqError,
  type KvGeometry,
  parseCalibration,
  type QuantizerContext,
  type TokenGroupLayout,
} from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { groupClipQuantizer, quantizeTokenReference } from '../src/index.js';
import { pageFor, randomPerm, randomTokens } from './helpers.js';

const geometry: KvGeometry = {
  layers: 2,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 8,
  rope: { style: 'pairwise', theta: 10000 },
};

function artifact(): CalibrationArtifact {
  const stream = (seed: number, bits: 2 | 1.5, alpha: number) => ({
    bits,
    perm: Array.from(randomPerm(16, seed)),
    groupOffsets: [0, 5, 11, 16],
    alpha,
  });
  return parseCalibration({
    format: 'skvq-calibration',
    version: 1,
    model: { name: 'test', fingerprint: 'sha256:0' },
    geometry,
    settings: {
      groupSize: 8,
      grouping: 'cluster',
      meta: 'fp8e4m3',
      seed: 1,
      restarts: 1,
      alphaGrid: [0.9, 1],
    },
    data: { source: 'synthetic', tokens: 10 },
    layers: [
      { k: stream(1, 2, 0.9), v: stream(2, 1.5, 1) },
      { k: stream(3, 2, 0.95), v: stream(4, 1.5, 0.9) },
    ],
  });
}

const context = (patch: Partial<QuantizerContext> = {}): QuantizerContext => ({
  geometry,
  layer: 1,
  stream: 'k',
  bits: 2,
  meta: 'fp16',
  groupSize: 8,
  calibration: artifact(),
  ...patch,
});

describe('groupClipQuantizer', () => {
  it('is the SKVQ quantizer plugin', () => {
    expect(groupClipQuantizer.kind).toBe('quantizer');
    expect(groupClipQuantizer.name).toBe('skvq');
    expect([...groupClipQuantizer.supportedBits].sort()).toEqual([1.5, 2, 3, 4, 8]);
    expect(groupClipQuantizer.requiresCalibration).toBe(true);
    expect(groupClipQuantizer.keyRope).toBe('pre');
  });

  it('returns the calibrated layout of the layer and stream, usable by the reference', () => {
    const cal = artifact();
    const layout = groupClipQuantizer.layout(context({ calibration: cal })) as TokenGroupLayout;
    expect(layout.kind).toBe('token-group');
    expect(layout.bits).toBe(2);
    expect(layout.meta).toBe('fp16');
    expect(layout.alpha).toBe(0.95);
    expect(Array.from(layout.perm!)).toEqual(cal.layers[1]!.k.perm);
    expect(Array.from(layout.groupOffsets)).toEqual([0, 5, 11, 16]);
    const v = groupClipQuantizer.layout(context({ stream: 'v', bits: 1.5, layer: 0 }));
    expect(v.bits).toBe(1.5);
    const { codes, meta } = pageFor(layout, 1);
    quantizeTokenReference(layout, randomTokens(1, 16, 1), 0, codes, 0, meta, 0);
  });

  it('context.alpha overrides the calibrated clip ratio and is validated', () => {
    expect(groupClipQuantizer.layout(context({ alpha: 1 })).alpha).toBe(1);
    expect(() => groupClipQuantizer.layout(context({ alpha: 0 }))).toThrow(/\(0, 1\]/);
  });

  it('rejects a missing calibration, a bit width it was not calibrated for, and a wrong layer', () => {
    const errorOf = (ctx: QuantizerContext) => {
      try {
        groupClipQuantizer.layout(ctx);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const missing = errorOf(context({ calibration: undefined }));
    expect(isSkvqError(missing, 'INVALID_ARGUMENT')).toBe(true);
    expect((missing as Error).message).toMatch(/run calibration/);
    const bits = errorOf(context({ bits: 4 }));
    expect(isSkvqError(bits, 'CALIBRATION_BAD_BITS')).toBe(true);
    expect((bits as Error).message).toMatch(/calibrated for 2 bits but 4 bits/);
    expect((errorOf(context({ layer: 2 })) as Error).message).toMatch(/expected 0..1/);
    const wide = errorOf(context({ geometry: { ...geometry, kvHeads: 4, queryHeads: 4 } }));
    expect(isSkvqError(wide, 'CALIBRATION_GEOMETRY_MISMATCH')).toBe(true);
  });
});
