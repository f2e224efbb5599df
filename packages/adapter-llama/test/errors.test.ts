import { isSkvqError, type SkvqErrorCode } from '@skvq/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  convertToGguf,
  createTokenizer,
  GGML_TYPE,
  type LlamaModel,
  loadGguf,
  loadLlama2c,
  parseGgufHeader,
  parseLlama2cTokenizer,
  writeGguf,
} from '../src/index.js';
import { loadStories, modelBytes, tokenizerBytes } from './helpers.js';

async function expectCode(
  promise: Promise<unknown> | (() => unknown),
  code: SkvqErrorCode,
  message: RegExp,
): Promise<void> {
  let caught: unknown;
  let value: unknown;
  try {
    value = typeof promise === 'function' ? promise() : await promise;
  } catch (error) {
    caught = error;
  }
  expect(value).toBeUndefined();
  expect(isSkvqError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  expect((caught as Error).message).toMatch(message);
}

/** Offset of the first tensor info's type field (after its name, n_dims and dims). */
function firstTensorTypeOffset(bytes: Uint8Array): number {
  const header = parseGgufHeader(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  // walk back from the data section: simpler to search for the first tensor's name
  const name = new TextEncoder().encode(header.tensors[0]!.name);
  for (let i = 0; i < bytes.length; i++) {
    if (
      name.every((b, j) => bytes[i + j] === b) &&
      view.getBigUint64(i - 8, true) === BigInt(name.length)
    ) {
      const nDims = view.getUint32(i + name.length, true);
      return i + name.length + 4 + nDims * 8;
    }
  }
  throw new Error('tensor info not found');
}

describe('bad input gives a typed SkvqError and no model', () => {
  let model: LlamaModel;
  let gguf: Uint8Array;
  beforeAll(async () => {
    model = await loadStories();
    gguf = convertToGguf(model, model.tokenizer!, { type: 'F32' }).bytes;
  });

  it('a truncated llama2.c checkpoint: FILE_TRUNCATED naming the tensor', async () => {
    const bytes = modelBytes();
    await expectCode(
      loadLlama2c(bytes.subarray(0, 500_000)),
      'FILE_TRUNCATED',
      /truncated.*w[123o]|truncated/,
    );
    await expectCode(loadLlama2c(bytes.subarray(0, 20)), 'FILE_TRUNCATED', /truncated/);
  });

  it('a truncated GGUF: FILE_TRUNCATED', async () => {
    await expectCode(loadGguf(gguf.subarray(0, gguf.length - 1000)), 'FILE_TRUNCATED', /truncated/);
    await expectCode(loadGguf(gguf.subarray(0, 100)), 'FILE_TRUNCATED', /truncated/);
  });

  it('a GGUF with a wrong magic: FILE_BAD_MAGIC', async () => {
    const bad = gguf.slice();
    bad[0] = 0x58;
    await expectCode(loadGguf(bad), 'FILE_BAD_MAGIC', /GGUF magic/);
  });

  it('an unknown tensor type: FILE_UNSUPPORTED_TYPE naming tensor and type', async () => {
    const bad = gguf.slice();
    const at = firstTensorTypeOffset(gguf);
    new DataView(bad.buffer).setUint32(at, 12, true);
    await expectCode(
      loadGguf(bad),
      'FILE_UNSUPPORTED_TYPE',
      /token_embd\.weight.*Q4_K.*F32, F16, Q4_0, Q8_0/,
    );
    new DataView(bad.buffer).setUint32(at, 99, true);
    await expectCode(loadGguf(bad), 'FILE_UNSUPPORTED_TYPE', /unknown \(99\)/);
  });

  it('a missing metadata key or tensor: FILE_MISSING_KEY naming it', async () => {
    const header = parseGgufHeader(gguf);
    const metadata = [...header.metadata].filter(([key]) => key !== 'llama.block_count');
    const tensor = (name: string) => {
      const info = header.tensors.find((t) => t.name === name)!;
      return { name, dims: info.dims, type: 'F32' as const, data: new Float32Array(info.elements) };
    };
    const tensors = header.tensors.map((t) => tensor(t.name));
    await expectCode(
      loadGguf(writeGguf(metadata, tensors)),
      'FILE_MISSING_KEY',
      /"llama\.block_count"/,
    );
    const withoutQ = writeGguf(
      [...header.metadata],
      tensors.filter((t) => t.name !== 'blk.2.attn_q.weight'),
    );
    await expectCode(loadGguf(withoutQ), 'FILE_MISSING_KEY', /blk\.2\.attn_q\.weight/);
  });

  it('a tokenizer that does not match the vocabulary size: TOKENIZER_MISMATCH', async () => {
    const bytes = tokenizerBytes();
    await expectCode(
      loadLlama2c(modelBytes(), { tokenizer: bytes.subarray(0, 3000) }),
      'TOKENIZER_MISMATCH',
      /holds (at most )?\d+ tokens but the model's vocabulary has 512/,
    );
    await expectCode(
      () => parseLlama2cTokenizer(bytes, 500),
      'TOKENIZER_MISMATCH',
      /larger vocabulary than the model's 500/,
    );
    const t = model.tokenizer!;
    const small = createTokenizer({
      pieces: t.pieces.slice(0, 300),
      scores: t.scores.slice(0, 300),
      types: t.types.slice(0, 300),
      bosId: 1,
      eosId: 2,
      unkId: 0,
    });
    await expectCode(loadGguf(gguf, { tokenizer: small }), 'TOKENIZER_MISMATCH', /300 tokens.*512/);
  });

  it('keeps the GGML type table the loader accepts', () => {
    expect(GGML_TYPE).toEqual({ F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 });
  });
});
