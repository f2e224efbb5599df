import { describe, expect, it } from 'vitest';
import {
  assertBitWidth,
  assertFinite,
  codeBytes,
  contiguousGroupOffsets,
  gqaGroup,
  kvHidden,
  LLAMA2_7B_LAYER,
  LLAMA2_7B_LAYERS,
  maxQ,
  tensor,
  validateGeometry,
} from '../src/index.js';

const llama7b = { ...LLAMA2_7B_LAYER, layers: LLAMA2_7B_LAYERS };

describe('geometry and formats', () => {
  it('LLAMA2_7B_LAYER is one Llama-2-7B layer in the Hugging Face layout (rotate_half)', () => {
    expect(validateGeometry(LLAMA2_7B_LAYER, 'LLAMA2_7B_LAYER')).toEqual({
      layers: 1,
      queryHeads: 32,
      kvHeads: 32,
      headDim: 128,
      rope: { style: 'half', theta: 10_000 },
    });
    expect(kvHidden(LLAMA2_7B_LAYER)).toBe(4096);
    expect(Object.isFrozen(LLAMA2_7B_LAYER) && Object.isFrozen(LLAMA2_7B_LAYER.rope)).toBe(true);
  });

  it('derives the KV sizes', () => {
    expect(kvHidden(llama7b)).toBe(4096);
    expect(gqaGroup({ ...llama7b, kvHeads: 8 })).toBe(4);
  });

  it('rejects impossible geometries naming the field', () => {
    expect(() => validateGeometry({ ...llama7b, kvHeads: 3 })).toThrowError(/multiple of kvHeads/);
    expect(() => validateGeometry({ ...llama7b, headDim: 7 })).toThrowError(
      /headDim \(7\) must be even/,
    );
    expect(() => validateGeometry({ ...llama7b, layers: 1.5 })).toThrowError(
      /geometry.layers must be a positive integer/,
    );
    expect(() => validateGeometry({ ...llama7b, rope: { style: 'half', theta: -1 } })).toThrowError(
      /theta/,
    );
  });

  it('knows the code sizes of every packed format', () => {
    expect(codeBytes(8, 10)).toBe(10);
    expect(codeBytes(4, 9)).toBe(5);
    expect(codeBytes(3, 8)).toBe(3);
    expect(codeBytes(3, 9)).toBe(4);
    expect(codeBytes(2, 9)).toBe(3);
    expect(codeBytes(1.5, 10)).toBe(2);
    expect(codeBytes(1.5, 11)).toBe(3);
    expect(maxQ(1.5)).toBe(2);
    expect(maxQ(3)).toBe(7);
  });

  it('rejects unsupported bit widths listing the supported ones', () => {
    expect(() => assertBitWidth(5, 'group-clip')).toThrowError(
      'unsupported bits 5 for group-clip; expected 1.5, 2, 3, 4, 8',
    );
  });

  it('cuts contiguous groups', () => {
    expect(Array.from(contiguousGroupOffsets(10, 4))).toEqual([0, 4, 8, 10]);
  });

  it('validates tensors and finiteness', () => {
    expect(() => tensor(new Float32Array(5), [2, 3], 'k')).toThrowError(
      'k: shape [2, 3] needs 6 elements, got 5',
    );
    expect(() => assertFinite(Float32Array.of(1, Number.NaN), 'k')).toThrowError('k[1] is NaN');
  });
});
