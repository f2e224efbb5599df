import { describe, expect, it } from 'vitest';
import {
  MAX_CALIBRATION_CHARS,
  MAX_CALIBRATION_DEPTH,
  MAX_CALIBRATION_STRING,
} from '../src/calibration-limits.js';
import {
  type CalibrationArtifact,
  isSkvqError,
  parseCalibration,
  serializeCalibration,
} from '../src/index.js';

/** Issue 13 item 4: hostile calibration artifacts get CALIBRATION_* errors, fast and small. */

function artifact(): CalibrationArtifact {
  const stream = {
    bits: 2 as const,
    perm: [1, 0, 3, 2],
    groupOffsets: [0, 2, 4],
    alpha: 0.9,
    alphaSearch: { grid: [0.9, 1], errors: [0.1, 0.2] },
  };
  return {
    format: 'skvq-calibration',
    version: 1,
    model: { name: 'tiny', fingerprint: 'sha256:abc' },
    geometry: {
      layers: 1,
      queryHeads: 2,
      kvHeads: 1,
      headDim: 4,
      rope: { style: 'pairwise', theta: 10000 },
    },
    settings: {
      groupSize: 2,
      grouping: 'cluster',
      meta: 'fp16',
      seed: 1,
      restarts: 2,
      alphaGrid: [0.9, 1],
    },
    data: { source: 'test', tokens: 10 },
    layers: [{ k: stream, v: { ...stream } }],
  };
}

function edited(edit: (a: Record<string, any>) => void): Record<string, any> {
  const a = JSON.parse(serializeCalibration(artifact()));
  edit(a);
  return a;
}

/** The error of parsing `input` as text and as a value: code and message length. */
function outcome(input: unknown): { code: string; messageLength: number } {
  try {
    parseCalibration(input);
    return { code: 'ok', messageLength: 0 };
  } catch (error) {
    if (!isSkvqError(error)) return { code: `untyped ${(error as Error).name}`, messageLength: 0 };
    return { code: error.code, messageLength: error.message.length };
  }
}

function deepArray(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('calibration parser limits (issue 13 item 4)', () => {
  it('deeply nested JSON, as text or as a value, in any field: CALIBRATION_MALFORMED', () => {
    const deep = deepArray(100_000);
    for (const place of ['bits', 'alpha', 'perm', 'extra']) {
      const value = edited((a) => {
        a.layers[0].k[place] = deep;
      });
      expect(outcome(value).code, place).toBe('CALIBRATION_MALFORMED');
    }
    const text = `{"format":"skvq-calibration","version":1,"x":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    expect(outcome(text).code).toBe('CALIBRATION_MALFORMED');
    // within the depth limit, a nested value in a checked field still gets a short message
    const shallow = edited((a) => {
      a.layers[0].k.bits = deepArray(MAX_CALIBRATION_DEPTH - 6);
    });
    expect(outcome(shallow)).toMatchObject({ code: 'CALIBRATION_BAD_BITS' });
    expect(outcome(JSON.stringify(shallow)).code).toBe('CALIBRATION_BAD_BITS');
  });

  it('text past the size limit is refused before JSON.parse', () => {
    const huge = `{"format":"skvq-calibration","pad":"${'x'.repeat(MAX_CALIBRATION_CHARS)}"}`;
    expect(outcome(huge).code).toBe('CALIBRATION_MALFORMED');
  });

  it('a sparse array claiming 2^32 - 1 entries is refused without iterating it', () => {
    for (const length of [2 ** 32 - 1, 1e7]) {
      const value = edited((a) => {
        a.layers[0].k.perm = new Array(length);
      });
      expect(outcome(value).code).toBe('CALIBRATION_MALFORMED');
    }
  });

  it('messages never serialise attacker-sized values', () => {
    const long = 'y'.repeat(1_000_000);
    const cases = [
      edited((a) => (a.format = long)),
      edited((a) => (a.layers[0].k.bits = long)),
      edited((a) => (a.layers[0].k.perm = Array(100_000).fill(long.slice(0, 10)))),
      edited((a) => (a.model.name = long)),
      edited((a) => (a.geometry.rope.style = long)),
      edited((a) => (a.settings.meta = long)),
    ];
    for (const c of cases) {
      const { code, messageLength } = outcome(c);
      expect(code.startsWith('CALIBRATION_'), code).toBe(true);
      expect(messageLength).toBeLessThan(400);
    }
  });

  const fieldEdits: Array<[string, (a: Record<string, any>) => void]> = [
    ['settings.groupSize 0', (a) => (a.settings.groupSize = 0)],
    ['settings.groupSize 1.5', (a) => (a.settings.groupSize = 1.5)],
    ['settings.seed a string', (a) => (a.settings.seed = '1')],
    ['settings.restarts -1', (a) => (a.settings.restarts = -1)],
    ['settings.alphaGrid empty', (a) => (a.settings.alphaGrid = [])],
    ['settings.alphaGrid with 2', (a) => (a.settings.alphaGrid = [0.5, 2])],
    ['settings.alphaGrid an object', (a) => (a.settings.alphaGrid = { 0: 1 })],
    ['alphaSearch.grid with a string', (a) => (a.layers[0].k.alphaSearch.grid = ['0.9', 1])],
    ['alphaSearch.errors with null', (a) => (a.layers[0].v.alphaSearch.errors = [null, 0.1])],
    ['alphaSearch.errors negative', (a) => (a.layers[0].v.alphaSearch.errors = [-1, 0.1])],
    ['alphaSearch null', (a) => (a.layers[0].v.alphaSearch = null)],
    ['data.tokens -1', (a) => (a.data.tokens = -1)],
    ['data.tokens 0.5', (a) => (a.data.tokens = 0.5)],
    ['createdAt a number', (a) => (a.createdAt = 5)],
    ['model.name too long', (a) => (a.model.name = 'n'.repeat(MAX_CALIBRATION_STRING + 1))],
    ['geometry.layers an array', (a) => (a.geometry.layers = [1])],
  ];
  it.each(fieldEdits)('%s: CALIBRATION_MALFORMED', (_, edit) => {
    expect(outcome(edited(edit)).code).toBe('CALIBRATION_MALFORMED');
    expect(outcome(JSON.stringify(edited(edit))).code).toBe('CALIBRATION_MALFORMED');
  });

  it('unknown keys are dropped at every level (nothing unvalidated is kept)', () => {
    const parsed = parseCalibration(
      edited((a) => {
        a.extra = { nested: [1, 2] };
        a.settings.future = true;
        a.layers[0].k.note = 'x';
        a.layers[0].other = 1;
        a.model.more = 2;
        a.geometry.slidingWindow = 4;
      }),
    );
    expect(parsed).toEqual(artifact());
    expect(serializeCalibration(parsed)).toBe(serializeCalibration(artifact()));
  });
});
