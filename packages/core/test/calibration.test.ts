import { describe, expect, it } from 'vitest';
import {
  type CalibrationArtifact,
  calibratedLayout,
  isSkvqError,
  type KvGeometry,
  parseCalibration,
  type SkvqErrorCode,
  serializeCalibration,
} from '../src/index.js';

const geometry: KvGeometry = {
  layers: 2,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 4,
  rope: { style: 'pairwise', theta: 10000 },
};

function stream(bits: 2 | 1.5) {
  return {
    bits,
    perm: [3, 1, 0, 2, 7, 6, 5, 4],
    groupOffsets: [0, 3, 8],
    alpha: 0.92,
    alphaSearch: { grid: [0.9, 0.92, 1], errors: [0.2, 0.1, 0.3] },
  };
}

function artifact(): CalibrationArtifact {
  return {
    format: 'skvq-calibration',
    version: 1,
    createdAt: '2026-11-28T00:00:00.000Z',
    model: { name: 'tiny', fingerprint: 'sha256:abc' },
    geometry,
    settings: {
      groupSize: 4,
      grouping: 'cluster',
      meta: 'fp16',
      seed: 1,
      restarts: 4,
      alphaGrid: [0.9, 0.92, 1],
    },
    data: { source: 'test', tokens: 100 },
    layers: [
      { k: stream(2), v: stream(1.5) },
      { k: stream(2), v: stream(1.5) },
    ],
  };
}

function codeOf(fn: () => unknown): SkvqErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (isSkvqError(error)) return error.code;
    throw error;
  }
  return undefined;
}

function mutated(edit: (a: Record<string, any>) => void): string {
  const a = JSON.parse(serializeCalibration(artifact()));
  edit(a);
  return JSON.stringify(a);
}

describe('calibration artifact', () => {
  it('round-trips through JSON', () => {
    const a = artifact();
    const parsed = parseCalibration(serializeCalibration(a));
    expect(parsed).toEqual(a);
    expect(serializeCalibration(parsed)).toBe(serializeCalibration(a));
  });

  it('accepts the geometry and model it was made for', () => {
    expect(() =>
      parseCalibration(serializeCalibration(artifact()), { geometry, fingerprint: 'sha256:abc' }),
    ).not.toThrow();
  });

  it('builds the token-group layout of a stream', () => {
    const layout = calibratedLayout(artifact().layers[0]!.k, 'fp8e4m3');
    expect(layout.kind).toBe('token-group');
    expect(Array.from(layout.perm!)).toEqual([3, 1, 0, 2, 7, 6, 5, 4]);
    expect(Array.from(layout.groupOffsets)).toEqual([0, 3, 8]);
    expect(layout.meta).toBe('fp8e4m3');
    expect(layout.alpha).toBe(0.92);
  });

  const bad: [string, () => unknown, SkvqErrorCode][] = [
    ['not JSON', () => parseCalibration('{"format": "skvq-cal'), 'CALIBRATION_MALFORMED'],
    ['not an object', () => parseCalibration('[1,2]'), 'CALIBRATION_MALFORMED'],
    [
      'another format',
      () => parseCalibration(mutated((a) => (a.format = 'gguf'))),
      'CALIBRATION_WRONG_FORMAT',
    ],
    [
      'a future version',
      () => parseCalibration(mutated((a) => (a.version = 2))),
      'CALIBRATION_UNSUPPORTED_VERSION',
    ],
    [
      'a missing model',
      () => parseCalibration(mutated((a) => delete a.model)),
      'CALIBRATION_MALFORMED',
    ],
    [
      'a broken geometry',
      () => parseCalibration(mutated((a) => (a.geometry.kvHeads = 0))),
      'CALIBRATION_MALFORMED',
    ],
    [
      'too few layers',
      () => parseCalibration(mutated((a) => a.layers.pop())),
      'CALIBRATION_LAYER_COUNT',
    ],
    [
      'a repeated channel',
      () => parseCalibration(mutated((a) => (a.layers[1].k.perm[0] = 1))),
      'CALIBRATION_BAD_PERMUTATION',
    ],
    [
      'a short permutation',
      () => parseCalibration(mutated((a) => a.layers[0].v.perm.pop())),
      'CALIBRATION_BAD_PERMUTATION',
    ],
    [
      'groups not covering all channels',
      () => parseCalibration(mutated((a) => (a.layers[0].k.groupOffsets = [0, 3, 7]))),
      'CALIBRATION_BAD_GROUPS',
    ],
    [
      'an empty group',
      () => parseCalibration(mutated((a) => (a.layers[0].k.groupOffsets = [0, 3, 3, 8]))),
      'CALIBRATION_BAD_GROUPS',
    ],
    [
      'unsupported bits',
      () => parseCalibration(mutated((a) => (a.layers[0].k.bits = 5))),
      'CALIBRATION_BAD_BITS',
    ],
    [
      'alpha above 1',
      () => parseCalibration(mutated((a) => (a.layers[0].v.alpha = 1.2))),
      'CALIBRATION_BAD_ALPHA',
    ],
    [
      'alpha of 0',
      () => parseCalibration(mutated((a) => (a.layers[0].v.alpha = 0))),
      'CALIBRATION_BAD_ALPHA',
    ],
    [
      'another geometry',
      () =>
        parseCalibration(serializeCalibration(artifact()), {
          geometry: { ...geometry, headDim: 8 },
        }),
      'CALIBRATION_GEOMETRY_MISMATCH',
    ],
    [
      'another model',
      () => parseCalibration(serializeCalibration(artifact()), { fingerprint: 'sha256:def' }),
      'CALIBRATION_MODEL_MISMATCH',
    ],
  ];

  it.each(bad)('rejects %s with the right code', (_label, parse, code) => {
    expect(codeOf(parse)).toBe(code);
  });

  it('names the field and the allowed values', () => {
    expect(() => parseCalibration(mutated((a) => (a.layers[0].k.bits = 5)))).toThrowError(
      'calibration artifact: layers[0].k.bits is 5; expected 1.5, 2, 3, 4, 8',
    );
    expect(() =>
      parseCalibration(serializeCalibration(artifact()), { geometry: { ...geometry, headDim: 8 } }),
    ).toThrowError(/headDim: expected 8, got 4/);
  });
});
