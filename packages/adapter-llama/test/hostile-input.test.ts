import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSkvqError, type SkvqErrorCode } from '@skvq/core';
import { afterAll, describe, expect, it } from 'vitest';
import { readChunked } from '../src/gguf-layout.js';
import {
  type GgufValue,
  loadGguf,
  loadLlama2c,
  parseGgufHeader,
  parseLlama2c,
  parseLlama2cTokenizer,
} from '../src/index.js';
import {
  GGML_TYPE,
  rawGguf,
  TINY,
  tinyGguf,
  tinyLlama2c,
  tinyMetadata,
  tinyTokenizerBin,
  withKey,
} from './craft.js';

/** Regression tests for issue 13's defects 1, 4 and 5 (hostile model and tokenizer files). */

const dir = mkdtempSync(join(tmpdir(), 'skvq-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function onDisk(bytes: Uint8Array): { path: string } {
  const path = join(dir, `f${files++}.gguf`);
  writeFileSync(path, bytes);
  return { path };
}

async function codeOf(run: () => unknown): Promise<SkvqErrorCode | 'ok' | string> {
  try {
    await run();
    return 'ok';
  } catch (error) {
    return isSkvqError(error) ? error.code : `untyped ${String(error)}`;
  }
}

const f32 = (value: number): GgufValue => ({ type: 'f32', value });
const u32 = (value: number): GgufValue => ({ type: 'u32', value });

/** A 1 MiB GGUF declaring token_embd [64, vocab] F32 at `offset` (the defect 1). */
function hugeEmbedding(vocab: number, offset: number | bigint = 0): Uint8Array {
  const metadata = withKey(
    withKey(tinyMetadata(), 'llama.embedding_length', u32(64)),
    'llama.vocab_size',
    u32(vocab),
  ).filter(([k]) => !k.startsWith('tokenizer.'));
  return rawGguf(
    metadata,
    [{ name: 'token_embd.weight', dims: [64, vocab], type: GGML_TYPE.F32, offset }],
    1 << 20,
  );
}

describe('defect 1: a GGUF declaring more bytes than it holds', () => {
  it('a tensor of 2^31..2^32 bytes in a 1 MiB file: FILE_TRUNCATED from a path and from memory', async () => {
    const bytes = hugeEmbedding(2 ** 23); // 64 x 2^23 x 4 B = 2 GiB
    expect(await codeOf(() => loadGguf(onDisk(bytes)))).toBe('FILE_TRUNCATED');
    expect(await codeOf(() => loadGguf(bytes))).toBe('FILE_TRUNCATED');
  });

  it('dataOffset + offset past 2^53 - 1 is refused, never read from position 0', async () => {
    const near = hugeEmbedding(8, 2 ** 53 - 64);
    expect(await codeOf(() => loadGguf(onDisk(near)))).toBe('FILE_TRUNCATED');
    expect(await codeOf(() => loadGguf(near))).toBe('FILE_TRUNCATED');
    const past = hugeEmbedding(8, 2n ** 60n);
    expect(await codeOf(() => loadGguf(onDisk(past)))).toBe('FILE_CORRUPTED');
  });

  it('reads a range in pieces no longer than the chunk (Node takes int32 lengths)', async () => {
    const source = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const lengths: number[] = [];
    const { bytes, bytesRead } = await readChunked(
      async (buffer, offset, length, position) => {
        lengths.push(length);
        buffer.set(source.subarray(position, position + length), offset);
        return length;
      },
      100,
      700,
      256,
    );
    expect(bytesRead).toBe(700);
    expect(lengths).toEqual([256, 256, 188]);
    expect(bytes).toEqual(source.subarray(100, 800));
  });
});

describe('defect 4: typed errors instead of RangeError / TypeError', () => {
  it('a metadata array count of 2^32 or more: FILE_TRUNCATED', async () => {
    const bytes = tinyGguf();
    const key = new TextEncoder().encode('tokenizer.ggml.tokens');
    let at = -1;
    for (let i = 0; i < bytes.length && at < 0; i++) {
      if (key.every((b, j) => bytes[i + j] === b)) at = i + key.length + 8; // type, item type
    }
    for (const count of [2n ** 32n, 2n ** 40n, 2n ** 53n - 1n]) {
      const bad = bytes.slice();
      new DataView(bad.buffer).setBigUint64(at, count, true);
      expect(await codeOf(() => parseGgufHeader(bad))).toBe('FILE_TRUNCATED');
      expect(await codeOf(() => loadGguf(onDisk(bad)))).toBe('FILE_TRUNCATED');
    }
  });

  it('a tensor over 4 GiB from a path: FILE_TRUNCATED', async () => {
    expect(await codeOf(() => loadGguf(onDisk(hugeEmbedding(2 ** 25))))).toBe('FILE_TRUNCATED');
  });

  it('parseLlama2cTokenizer with a vocabulary size that is not a positive integer, or too large', async () => {
    const bytes = tinyTokenizerBin();
    expect(parseLlama2cTokenizer(bytes, TINY.vocab).vocabSize).toBe(TINY.vocab);
    for (const size of [-1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(await codeOf(() => parseLlama2cTokenizer(bytes, size))).toBe('INVALID_ARGUMENT');
    }
    expect(await codeOf(() => parseLlama2cTokenizer(bytes, 1e9))).toBe('TOKENIZER_MISMATCH');
  });
});

describe('defect 5: impossible models do not load', () => {
  it('the tiny fixtures load (from bytes and from a path)', async () => {
    const fromBytes = await loadGguf(tinyGguf());
    const fromPath = await loadGguf(onDisk(tinyGguf()));
    expect(fromBytes.config.vocabSize).toBe(TINY.vocab);
    expect(fromPath.weights.tokenEmbedding).toEqual(fromBytes.weights.tokenEmbedding);
    const llama2c = await loadLlama2c(tinyLlama2c(), { tokenizer: tinyTokenizerBin() });
    expect(llama2c.config.contextLength).toBe(TINY.ctx);
  });

  const configEdits: Array<[string, string, GgufValue]> = [
    ['block_count 0', 'llama.block_count', u32(0)],
    ['block_count NaN', 'llama.block_count', f32(Number.NaN)],
    ['block_count 1.5', 'llama.block_count', f32(1.5)],
    ['context_length 0', 'llama.context_length', u32(0)],
    ['context_length Infinity', 'llama.context_length', f32(Number.POSITIVE_INFINITY)],
    ['context_length 2^40', 'llama.context_length', { type: 'u64', value: 2 ** 40 }],
    ['eps NaN', 'llama.attention.layer_norm_rms_epsilon', f32(Number.NaN)],
    ['eps -1', 'llama.attention.layer_norm_rms_epsilon', f32(-1)],
    ['rope base 0', 'llama.rope.freq_base', f32(0)],
    ['head_count 3', 'llama.attention.head_count', u32(3)],
    ['head_count_kv 0', 'llama.attention.head_count_kv', u32(0)],
    ['bos NaN', 'tokenizer.ggml.bos_token_id', f32(Number.NaN)],
    ['bos outside the vocabulary', 'tokenizer.ggml.bos_token_id', u32(TINY.vocab)],
    ['eos -1', 'tokenizer.ggml.eos_token_id', { type: 'i32', value: -1 }],
  ];
  it.each(configEdits)('GGUF %s: FILE_CORRUPTED', async (_, key, value) => {
    const bytes = tinyGguf((m) => withKey(m, key, value));
    expect(await codeOf(() => loadGguf(bytes))).toBe('FILE_CORRUPTED');
  });

  it('duplicate metadata keys and duplicate tensor names: FILE_CORRUPTED', async () => {
    const dupKey = tinyGguf((m) => [...m, ['llama.block_count', u32(1)]]);
    expect(await codeOf(() => loadGguf(dupKey))).toBe('FILE_CORRUPTED');
    const meta = tinyMetadata();
    const norm = { name: 'output_norm.weight', dims: [TINY.dim], type: GGML_TYPE.F32 };
    const dupTensor = rawGguf(
      meta,
      [
        { ...norm, offset: 0 },
        { ...norm, offset: 32 },
      ],
      64,
    );
    expect(await codeOf(() => loadGguf(dupTensor))).toBe('FILE_CORRUPTED');
  });

  it('misaligned or overlapping tensor offsets: FILE_CORRUPTED', async () => {
    const meta = tinyMetadata();
    const a = { name: 'output_norm.weight', dims: [TINY.dim], type: GGML_TYPE.F32 };
    const b = { name: 'blk.0.attn_norm.weight', dims: [TINY.dim], type: GGML_TYPE.F32 };
    const misaligned = rawGguf(meta, [{ ...a, offset: 4 }], 64);
    expect(await codeOf(() => loadGguf(misaligned))).toBe('FILE_CORRUPTED');
    // [16 floats] = 64 bytes at 0 overlaps [8 floats] at 32
    const overlap = rawGguf(
      meta,
      [
        { ...a, dims: [16], offset: 0 },
        { ...b, offset: 32 },
      ],
      128,
    );
    expect(await codeOf(() => loadGguf(overlap))).toBe('FILE_CORRUPTED');
    expect(await codeOf(() => loadGguf(onDisk(overlap)))).toBe('FILE_CORRUPTED');
  });

  it('a llama2.c file whose size does not match its header: no header edit loads', async () => {
    const good = tinyLlama2c();
    expect(await codeOf(() => parseLlama2c(good))).toBe('ok');
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expect(await codeOf(() => parseLlama2c(longer))).toBe('FILE_CORRUPTED');
    const loaded: string[] = [];
    for (let field = 0; field < 7; field++) {
      const original = new DataView(good.buffer).getInt32(field * 4, true);
      for (const value of [
        0,
        -1,
        1,
        original + 1,
        original - 1,
        original * 2,
        -original,
        2 ** 31 - 1,
      ]) {
        if (value === original) continue;
        const bad = good.slice();
        new DataView(bad.buffer).setInt32(field * 4, value, true);
        const code = await codeOf(() => parseLlama2c(bad));
        expect(code.startsWith('untyped'), `header[${field}] = ${value}: ${code}`).toBe(false);
        if (code === 'ok') loaded.push(`header[${field}] = ${value}`);
      }
    }
    expect(loaded).toEqual([]);
  });
});
