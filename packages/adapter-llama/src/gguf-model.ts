import { checkLlamaConfig, checkTokenId, shortValue } from './config-check.js';
import { fail } from './errors.js';
import { dequantizeTensor } from './gguf-read.js';
import type { GgufHeader, GgufTensorInfo, GgufValue } from './gguf-types.js';
import { createTokenizer, pieceFromGguf, TOKEN_TYPE, type Tokenizer } from './tokenizer.js';
import {
  DEFAULT_ROPE_THETA,
  type LayerWeights,
  type LlamaConfig,
  type LlamaWeights,
} from './weights.js';

/** The only architecture this runtime implements. */
export const GGUF_ARCHITECTURE = 'llama';

function get(header: GgufHeader, key: string, what: string): GgufValue {
  const v = header.metadata.get(key);
  if (!v) fail('FILE_MISSING_KEY', `${what} lacks the metadata key "${key}"`, { key });
  return v;
}

function num(header: GgufHeader, key: string, what: string, fallback?: number): number {
  const v = header.metadata.get(key);
  if (!v) {
    if (fallback !== undefined) return fallback;
    fail('FILE_MISSING_KEY', `${what} lacks the metadata key "${key}"`, { key });
  }
  if (typeof v.value !== 'number')
    fail('FILE_CORRUPTED', `${what}: metadata "${key}" must be a number, got ${v.type}`, { key });
  return v.value;
}

/** Hyper-parameters from the `llama.*` metadata keys. */
export function ggufConfig(header: GgufHeader, what: string): LlamaConfig {
  const arch = get(header, 'general.architecture', what).value;
  if (arch !== GGUF_ARCHITECTURE) {
    fail(
      'FILE_UNSUPPORTED_TYPE',
      `${what} is architecture ${shortValue(arch)}; supported: ${GGUF_ARCHITECTURE}`,
      { architecture: shortValue(arch) },
    );
  }
  const p = `${GGUF_ARCHITECTURE}.`;
  const dim = num(header, `${p}embedding_length`, what);
  const heads = num(header, `${p}attention.head_count`, what);
  const headDim = dim / heads;
  const embd = header.tensors.find((t) => t.name === 'token_embd.weight');
  const tokens = header.metadata.get('tokenizer.ggml.tokens');
  // llama.cpp takes the vocabulary size from the token list; the embedding is the fallback
  const fromFile = tokens?.type === 'array' ? tokens.value.length : (embd?.dims[1] ?? 0);
  const vocabSize = num(header, `${p}vocab_size`, what, fromFile);
  // every count, the epsilon and the RoPE base checked before anything is sized from them
  const config = checkLlamaConfig(
    {
      dim,
      hiddenDim: num(header, `${p}feed_forward_length`, what),
      layers: num(header, `${p}block_count`, what),
      heads,
      kvHeads: num(header, `${p}attention.head_count_kv`, what, heads),
      vocabSize,
      contextLength: num(header, `${p}context_length`, what),
      headDim,
      normEps: num(header, `${p}attention.layer_norm_rms_epsilon`, what),
      ropeTheta: num(header, `${p}rope.freq_base`, what, DEFAULT_ROPE_THETA),
    },
    what,
  );
  const ropeDims = num(header, `${p}rope.dimension_count`, what, headDim);
  if (ropeDims !== headDim) {
    fail(
      'FILE_UNSUPPORTED_TYPE',
      `${what}: ${p}rope.dimension_count is ${ropeDims}; only full rotary (${headDim}, the head size) is supported`,
      {
        ropeDims,
        headDim,
      },
    );
  }
  return config;
}

/** The SentencePiece (`llama`) vocabulary in tokenizer.ggml.*; undefined when absent. */
export function ggufTokenizer(header: GgufHeader, what: string): Tokenizer | undefined {
  const model = header.metadata.get('tokenizer.ggml.model');
  if (!model) return undefined;
  if (model.value !== 'llama') {
    fail(
      'FILE_UNSUPPORTED_TYPE',
      `${what}: tokenizer.ggml.model is ${shortValue(model.value)}; supported: llama (SentencePiece BPE)`,
      {
        model: shortValue(model.value),
      },
    );
  }
  const tokens = get(header, 'tokenizer.ggml.tokens', what);
  const scores = get(header, 'tokenizer.ggml.scores', what);
  const types = header.metadata.get('tokenizer.ggml.token_type');
  if (tokens.type !== 'array' || tokens.itemType !== 'string')
    fail('FILE_CORRUPTED', `${what}: tokenizer.ggml.tokens must be an array of strings`);
  if (
    scores.type !== 'array' ||
    scores.value.length !== tokens.value.length ||
    !scores.value.every((x) => typeof x === 'number' && !Number.isNaN(x))
  ) {
    fail(
      'FILE_CORRUPTED',
      `${what}: tokenizer.ggml.scores must be an array of numbers as long as tokenizer.ggml.tokens`,
    );
  }
  const n = tokens.value.length;
  if (n === 0) fail('FILE_CORRUPTED', `${what}: tokenizer.ggml.tokens is empty`);
  const pieces = (tokens.value as string[]).map(pieceFromGguf);
  const typeArray = new Uint8Array(n);
  if (types) {
    if (
      types.type !== 'array' ||
      types.value.length !== n ||
      !types.value.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0 && t < 256)
    ) {
      fail(
        'FILE_CORRUPTED',
        `${what}: tokenizer.ggml.token_type must have one integer type 0..255 per token`,
      );
    }
    (types.value as number[]).forEach((t, i) => {
      typeArray[i] = t;
    });
  } else typeArray.fill(TOKEN_TYPE.normal);
  return createTokenizer({
    pieces,
    scores: Float32Array.from(scores.value as number[]),
    types: typeArray,
    bosId: tokenId(header, 'tokenizer.ggml.bos_token_id', n, 1, what),
    eosId: tokenId(header, 'tokenizer.ggml.eos_token_id', n, 2, what),
    unkId: tokenId(header, 'tokenizer.ggml.unknown_token_id', n, 0, what),
  });
}

/** A special token id from the metadata (or its default), inside the vocabulary. */
function tokenId(header: GgufHeader, key: string, n: number, fallback: number, what: string) {
  return checkTokenId(num(header, key, what, fallback), n, key, what);
}

/** Reads one tensor's raw bytes (from memory or a file handle). */
export type TensorBytesReader = (info: GgufTensorInfo) => Promise<Uint8Array>;

/** Loads every weight of a `llama` GGUF into fp32 (checking names and shapes). */
export async function ggufWeights(
  header: GgufHeader,
  config: LlamaConfig,
  read: TensorBytesReader,
  what: string,
): Promise<LlamaWeights> {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  async function tensor(
    name: string,
    shape: number[],
    optional = false,
  ): Promise<Float32Array | undefined> {
    const info = byName.get(name);
    if (!info) {
      if (optional) return undefined;
      fail('FILE_MISSING_KEY', `${what} lacks the tensor "${name}"`, { tensor: name });
    }
    const dims = info.dims.slice();
    while (dims.length > shape.length && dims[dims.length - 1] === 1) dims.pop();
    if (dims.length !== shape.length || dims.some((d, i) => d !== shape[i])) {
      fail(
        'FILE_CORRUPTED',
        `${what}: tensor "${name}" has shape [${info.dims.join(', ')}], expected [${shape.join(', ')}]`,
        {
          tensor: name,
          dims: info.dims,
          expected: shape,
        },
      );
    }
    return dequantizeTensor(info, await read(info));
  }
  const need = async (name: string, shape: number[]) => (await tensor(name, shape)) as Float32Array;
  const { dim, hiddenDim: hid, vocabSize: vocab } = config;
  const kvDim = config.kvHeads * config.headDim;
  const tokenEmbedding = await need('token_embd.weight', [dim, vocab]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    const b = `blk.${l}.`;
    layers.push({
      attnNorm: await need(`${b}attn_norm.weight`, [dim]),
      wq: await need(`${b}attn_q.weight`, [dim, dim]),
      wk: await need(`${b}attn_k.weight`, [dim, kvDim]),
      wv: await need(`${b}attn_v.weight`, [dim, kvDim]),
      wo: await need(`${b}attn_output.weight`, [dim, dim]),
      ffnNorm: await need(`${b}ffn_norm.weight`, [dim]),
      w1: await need(`${b}ffn_gate.weight`, [dim, hid]),
      w2: await need(`${b}ffn_down.weight`, [hid, dim]),
      w3: await need(`${b}ffn_up.weight`, [dim, hid]),
    });
  }
  const finalNorm = await need('output_norm.weight', [dim]);
  // no output.weight: the classifier is tied to the embedding (as llama.cpp does)
  const classifier = (await tensor('output.weight', [dim, vocab], true)) ?? tokenEmbedding;
  return { tokenEmbedding, layers, finalNorm, classifier };
}
