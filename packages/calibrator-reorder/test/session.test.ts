import {
  type CalibrationProgress,
  type CalibratorOptions,
  createRegistry,
  isSkvqError,
  type KvGeometry,
  kvHidden,
  parseCalibration,
  serializeCalibration,
} from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALPHA_GRID, reorderCalibrator } from '../src/index.js';
import { syntheticBatch } from './synthetic.js';

const geometry: KvGeometry = {
  layers: 2,
  queryHeads: 2,
  kvHeads: 1,
  headDim: 32,
  rope: { style: 'half', theta: 10000 },
};

function options(
  extra: Partial<CalibratorOptions> = {},
): CalibratorOptions & { sampleTokens: number } {
  return {
    geometry,
    model: { name: 'synthetic', fingerprint: 'test:1' },
    bits: { k: 2, v: 1.5 },
    meta: 'fp16',
    groupSize: 8,
    grouping: 'cluster',
    restarts: 3,
    seed: 9,
    source: 'synthetic',
    sampleTokens: 48,
    ...extra,
  };
}

function calibrate(extra: Partial<CalibratorOptions> = {}) {
  const session = reorderCalibrator.createSession(options(extra));
  // Two chunks of one sequence per layer (positions continue), then a second sequence.
  for (let layer = 0; layer < geometry.layers; layer++) {
    session.observe(syntheticBatch(geometry, layer, 24, 0, 1));
    session.observe(syntheticBatch(geometry, layer, 24, 24, 2));
    session.observe(syntheticBatch(geometry, layer, 16, 0, 3));
  }
  return session.finish() as ReturnType<typeof session.finish> & object;
}

describe('reorderCalibrator', () => {
  it('registers as the calibrator named reorder', () => {
    const registry = createRegistry().use(reorderCalibrator);
    expect(registry.get('calibrator', 'reorder')).toBe(reorderCalibrator);
  });

  it('produces an artifact that round-trips through serializeCalibration/parseCalibration', async () => {
    const progress: CalibrationProgress[] = [];
    const artifact = await calibrate({ onProgress: (p) => progress.push(p) });
    const parsed = parseCalibration(serializeCalibration(artifact), {
      geometry,
      fingerprint: 'test:1',
    });
    expect(parsed).toEqual(JSON.parse(JSON.stringify(artifact)));
    expect(artifact.layers).toHaveLength(2);
    expect(artifact.data).toEqual({ source: 'synthetic', tokens: 64 });
    expect(artifact.settings.alphaGrid).toEqual([...DEFAULT_ALPHA_GRID]);
    for (const layer of artifact.layers) {
      for (const stream of [layer.k, layer.v]) {
        expect(stream.perm).toHaveLength(kvHidden(geometry));
        expect(stream.alphaSearch?.grid).toEqual([...DEFAULT_ALPHA_GRID]);
        const errors = stream.alphaSearch!.errors;
        expect(errors[stream.alphaSearch!.grid.indexOf(stream.alpha)]).toBe(Math.min(...errors));
      }
    }
    expect(artifact.layers[0]!.k.bits).toBe(2);
    expect(artifact.layers[0]!.v.bits).toBe(1.5);
    expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4]);
    expect(progress.every((p) => p.total === 4)).toBe(true);
  });

  it('is reproducible: the same seed gives the same permutations and alphas', async () => {
    const a = await calibrate();
    const b = await calibrate();
    expect(serializeCalibration(a)).toBe(serializeCalibration(b));
    const equal = await calibrate({ grouping: 'equal' });
    for (const layer of equal.layers) expect(layer.k.groupOffsets).toEqual([0, 8, 16, 24, 32]);
  });

  it('validates options and batches with typed errors', () => {
    expect(() => reorderCalibrator.createSession(options({ groupSize: 5 }))).toThrow(
      /group size 5 does not divide kvHidden 32/,
    );
    expect(() => reorderCalibrator.createSession(options({ bits: { k: 5 as 2, v: 2 } }))).toThrow(
      /unsupported bits 5/,
    );
    expect(() => reorderCalibrator.createSession(options({ alphaGrid: [0.9, 1.2] }))).toThrow(
      /grid\[1\] is 1.2/,
    );
    const session = reorderCalibrator.createSession(options());
    const bad = syntheticBatch(geometry, 0, 4, 0, 1);
    bad.k[5] = Number.NaN;
    try {
      session.observe(bad);
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'NON_FINITE_INPUT')).toBe(true);
    }
    expect(() => session.observe(syntheticBatch({ ...geometry, layers: 3 }, 2, 4, 0, 1))).toThrow(
      /layer 2 is out of range/,
    );
    expect(() => session.observe({ ...syntheticBatch(geometry, 0, 4, 0, 1), count: 5 })).toThrow(
      /q has length 256; expected 320/,
    );
    session.observe(syntheticBatch(geometry, 0, 4, 0, 1));
    // Layer 1 never observed: finishing must say so, not invent a calibration.
    expect(() => session.finish()).toThrow(/layer 1, k.*no tokens were observed/);
  });
});
