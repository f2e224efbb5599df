import { mulberry32 } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import {
  dequantizeTensor,
  f16ToF32,
  f32ToF16,
  type GgufTensorInfo,
  LLAMA2C_MAGIC,
  loadLlama2c,
  logProb,
  matmul,
  matmulReference,
  parseLlama2c,
  quantizeQ8_0,
  sampleToken,
  sniffGguf,
  sniffLlama2c,
  splitStories,
} from '../src/index.js';
import { modelBytes, tokenizerBytes } from './helpers.js';

function random(n: number, rng: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
}

describe('kernels against their scalar references', () => {
  it('matmul equals matmulReference for odd and even sizes', () => {
    const rng = mulberry32(7);
    for (const [tokens, inDim, outDim] of [
      [1, 64, 64],
      [3, 172, 65],
      [16, 8, 7],
      [5, 1, 2],
    ] as const) {
      const x = random(tokens * inDim, rng);
      const w = random(outDim * inDim, rng);
      const fast = new Float32Array(tokens * outDim);
      const ref = new Float32Array(tokens * outDim);
      matmul(fast, x, w, tokens, inDim, outDim);
      matmulReference(ref, x, w, tokens, inDim, outDim);
      for (let i = 0; i < ref.length; i++)
        expect(Math.abs((fast[i] as number) - (ref[i] as number))).toBeLessThan(1e-5);
    }
  });

  it('fp16 round-trips representable values and rounds to nearest even', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 2 ** -24, -0.333251953125])
      expect(f16ToF32(f32ToF16(v))).toBe(v);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(Number.isNaN(f16ToF32(f32ToF16(Number.NaN)))).toBe(true);
  });

  it('Q8_0 quantize then dequantize is within half a step per block', () => {
    const rng = mulberry32(3);
    const data = random(32 * 8, rng);
    const bytes = quantizeQ8_0(data);
    expect(bytes.length).toBe(8 * 34);
    const info: GgufTensorInfo = {
      name: 't',
      dims: [64, 4],
      type: 'Q8_0',
      offset: 0,
      elements: 256,
      bytes: bytes.length,
    };
    const back = dequantizeTensor(info, bytes);
    for (let b = 0; b < 8; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[b * 32 + j] as number));
      for (let j = 0; j < 32; j++)
        expect(
          Math.abs((back[b * 32 + j] as number) - (data[b * 32 + j] as number)),
        ).toBeLessThanOrEqual((amax / 127) * 0.5 + amax * 1e-3);
    }
  });

  it('Q4_0 blocks dequantize as (nibble - 8) * d, low nibbles first', () => {
    const bytes = new Uint8Array(18);
    new DataView(bytes.buffer).setUint16(0, f32ToF16(0.5), true);
    for (let j = 0; j < 16; j++) bytes[2 + j] = (j & 0x0f) | ((15 - j) << 4);
    const out = dequantizeTensor(
      { name: 'q', dims: [32], type: 'Q4_0', offset: 0, elements: 32, bytes: 18 },
      bytes,
    );
    for (let j = 0; j < 16; j++) {
      expect(out[j]).toBe((j - 8) * 0.5);
      expect(out[j + 16]).toBe((15 - j - 8) * 0.5);
    }
  });
});

describe('sampling', () => {
  it('greedy is argmax; seeded sampling is reproducible and stays in the nucleus', () => {
    const logits = Float32Array.from([0, 5, 1, 4.9]);
    expect(sampleToken(logits, 0, 1, mulberry32(1))).toBe(1);
    const draws = (seed: number, n: number) => {
      const rng = mulberry32(seed);
      return Array.from({ length: n }, () => sampleToken(logits, 1, 0.9, rng));
    };
    expect(draws(5, 20)).toEqual(draws(5, 20));
    // tokens 1 and 3 hold ~0.91 of the mass: top-p 0.9 never draws 0 or 2
    expect([...new Set(draws(9, 200))].sort()).toEqual([1, 3]);
    expect(() => sampleToken(logits, -1, 1, mulberry32(1))).toThrow(/temperature/);
  });

  it('logProb is a normalised log-softmax', () => {
    const logits = Float32Array.from([1, 2, 3]);
    const total = [0, 1, 2].reduce((s, i) => s + Math.exp(logProb(logits, 0, 3, i)), 0);
    expect(total).toBeCloseTo(1, 12);
  });
});

describe('llama2.c formats', () => {
  it('sniffs v0 and the versioned magic, not GGUF', () => {
    const bytes = modelBytes();
    expect(sniffLlama2c(bytes.subarray(0, 64))).toBe(true);
    expect(sniffGguf(bytes.subarray(0, 64))).toBe(false);
    expect(
      sniffLlama2c(
        new TextEncoder().encode('GGUF\u0003\u0000\u0000\u0000........................'),
      ),
    ).toBe(false);
  });

  it('reads a version-1 (fp32) export with the same weights as v0', async () => {
    const v0 = parseLlama2c(modelBytes());
    const c = v0.config;
    const w = v0.weights;
    const header = new Uint8Array(256);
    const view = new DataView(header.buffer);
    view.setUint32(0, LLAMA2C_MAGIC, true);
    view.setInt32(4, 1, true);
    const ints = [c.dim, c.hiddenDim, c.layers, c.heads, c.kvHeads, c.vocabSize, c.contextLength];
    for (let i = 0; i < ints.length; i++) view.setInt32(8 + i * 4, ints[i] as number, true);
    header[36] = 1; // shared classifier
    const parts: Float32Array[] = [
      ...w.layers.map((l) => l.attnNorm),
      ...w.layers.map((l) => l.ffnNorm),
      w.finalNorm,
      w.tokenEmbedding,
      ...(['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const).flatMap((k) =>
        w.layers.map((l) => l[k]),
      ),
    ];
    const total = 256 + parts.reduce((s, p) => s + p.byteLength, 0);
    const file = new Uint8Array(total);
    file.set(header);
    let o = 256;
    for (const p of parts) {
      file.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o);
      o += p.byteLength;
    }
    const v1 = await loadLlama2c(file, { tokenizer: tokenizerBytes() });
    expect(v1.config).toEqual(c);
    expect(v1.weights.layers[4]!.w2).toEqual(w.layers[4]!.w2);
    expect(v1.weights.classifier).toBe(v1.weights.tokenEmbedding);
    expect(v1.identity.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('llama2.c version 2 (Q8_0 groups)', () => {
  it('dequantizes int8 values with one fp32 scale per group', async () => {
    const v0 = parseLlama2c(modelBytes());
    const c = v0.config;
    const w = v0.weights;
    const groupSize = 32;
    const header = new Uint8Array(256);
    const view = new DataView(header.buffer);
    view.setUint32(0, LLAMA2C_MAGIC, true);
    view.setInt32(4, 2, true);
    const ints = [c.dim, c.hiddenDim, c.layers, c.heads, c.kvHeads, c.vocabSize, c.contextLength];
    for (let i = 0; i < ints.length; i++) view.setInt32(8 + i * 4, ints[i] as number, true);
    header[36] = 1;
    view.setInt32(37, groupSize, true);
    const chunks: Uint8Array[] = [header];
    const fp32 = (a: Float32Array) => chunks.push(new Uint8Array(a.slice().buffer));
    const q8 = (a: Float32Array) => {
      const q = new Int8Array(a.length);
      const scales = new Float32Array(a.length / groupSize);
      for (let g = 0; g < scales.length; g++) {
        let amax = 0;
        for (let j = 0; j < groupSize; j++)
          amax = Math.max(amax, Math.abs(a[g * groupSize + j] as number));
        const scale = amax / 127;
        scales[g] = scale;
        for (let j = 0; j < groupSize; j++)
          q[g * groupSize + j] =
            scale === 0 ? 0 : Math.round((a[g * groupSize + j] as number) / scale);
      }
      chunks.push(new Uint8Array(q.buffer), new Uint8Array(scales.buffer));
    };
    for (const l of w.layers) fp32(l.attnNorm);
    for (const l of w.layers) fp32(l.ffnNorm);
    fp32(w.finalNorm);
    q8(w.tokenEmbedding);
    for (const k of ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const)
      for (const l of w.layers) q8(l[k]);
    const file = new Uint8Array(chunks.reduce((s, b) => s + b.length, 0));
    let o = 0;
    for (const b of chunks) {
      file.set(b, o);
      o += b.length;
    }
    const v2 = parseLlama2c(file);
    expect(v2.version).toBe(2);
    const a = v2.weights.layers[2]!.w1;
    const ref = w.layers[2]!.w1;
    let maxErr = 0;
    let maxAbs = 0;
    for (let i = 0; i < a.length; i++) {
      maxErr = Math.max(maxErr, Math.abs((a[i] as number) - (ref[i] as number)));
      maxAbs = Math.max(maxAbs, Math.abs(ref[i] as number));
    }
    // round to nearest: at most half a step of the largest group scale
    expect(maxErr).toBeLessThanOrEqual((maxAbs / 127) * 0.5 * 1.0001);
    expect(maxErr).toBeGreaterThan(0);
    expect(() => parseLlama2c(file.subarray(0, file.length - 4))).toThrow(/truncated/);
  });
});

describe('splitStories', () => {
  it('starts a story at each opening and joins its paragraphs with one newline', () => {
    const text =
      'Once upon a time, a cat.\n\nThe cat ran.\n\nOne day, a dog.\n\nOnce, a bird.\n\nIt flew.\n';
    expect(splitStories(text)).toEqual([
      'Once upon a time, a cat.\nThe cat ran.',
      'One day, a dog.',
      'Once, a bird.\nIt flew.',
    ]);
  });
});
