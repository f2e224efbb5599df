import { GGUF_ARCHITECTURE } from './gguf-model.js';
import type { GgufValue } from './gguf-types.js';
import { type GgufTensorInput, type GgufWriteType, writeGguf } from './gguf-write.js';
import type { LlamaModel } from './model.js';
import { pieceToGguf, TOKEN_TYPE, type Tokenizer } from './tokenizer.js';

/** ggml's Q8_0 block: rows whose length is not a multiple of it cannot be Q8_0. */
const Q8_0_BLOCK = 32;

/** llama.cpp's llama_ftype values written to general.file_type. */
const FILE_TYPE: Record<GgufWriteType, number> = { F32: 0, F16: 1, Q8_0: 7 };

export interface ConvertOptions {
  /** Type of the 2-D weight matrices (norm vectors are always F32, as llama.cpp writes them). */
  type: GgufWriteType;
  name?: string;
}

export interface ConvertResult {
  bytes: Uint8Array;
  /** The type each tensor was written with (Q8_0 files keep rows not divisible by 32 in F16). */
  tensorTypes: Record<string, GgufWriteType>;
}

/** GGUF token text of a llama2.c piece: BOS/EOS as "<s>"/"</s>", spaces as U+2581. */
function ggufTokenText(tokenizer: Tokenizer, id: number): string {
  if (id === tokenizer.bosId) return '<s>';
  if (id === tokenizer.eosId) return '</s>';
  if (id === tokenizer.unkId) return '<unk>';
  return pieceToGguf(tokenizer.pieces[id] as string);
}

/**
 * Converts a loaded llama2.c model (weights already in llama.cpp's pairwise RoPE row order,
 * so wq/wk are stored as they are) and its tokenizer into a GGUF v3 `llama` file that
 * llama.cpp loads.
 */
export function convertToGguf(
  model: LlamaModel,
  tokenizer: Tokenizer,
  options: ConvertOptions,
): ConvertResult {
  const c = model.config;
  const a = GGUF_ARCHITECTURE;
  const vocab = tokenizer.vocabSize;
  const metadata: Array<[string, GgufValue]> = [
    ['general.architecture', { type: 'string', value: a }],
    ['general.name', { type: 'string', value: options.name ?? model.identity.name }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[options.type] }],
    [`${a}.vocab_size`, { type: 'u32', value: c.vocabSize }],
    [`${a}.context_length`, { type: 'u32', value: c.contextLength }],
    [`${a}.embedding_length`, { type: 'u32', value: c.dim }],
    [`${a}.block_count`, { type: 'u32', value: c.layers }],
    [`${a}.feed_forward_length`, { type: 'u32', value: c.hiddenDim }],
    [`${a}.rope.dimension_count`, { type: 'u32', value: c.headDim }],
    [`${a}.attention.head_count`, { type: 'u32', value: c.heads }],
    [`${a}.attention.head_count_kv`, { type: 'u32', value: c.kvHeads }],
    [`${a}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: c.normEps }],
    [`${a}.rope.freq_base`, { type: 'f32', value: c.ropeTheta }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    [
      'tokenizer.ggml.tokens',
      {
        type: 'array',
        itemType: 'string',
        value: Array.from({ length: vocab }, (_, i) => ggufTokenText(tokenizer, i)),
      },
    ],
    [
      'tokenizer.ggml.scores',
      { type: 'array', itemType: 'f32', value: Array.from(tokenizer.scores) },
    ],
    [
      'tokenizer.ggml.token_type',
      {
        type: 'array',
        itemType: 'i32',
        value: Array.from(tokenizer.types, (t) => (t === 0 ? TOKEN_TYPE.normal : t)),
      },
    ],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: tokenizer.bosId }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: tokenizer.eosId }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: tokenizer.unkId }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
  ];
  const tensorTypes: Record<string, GgufWriteType> = {};
  const tensors: GgufTensorInput[] = [];
  const w = model.weights;
  const matrix = (name: string, data: Float32Array, rows: number, cols: number) => {
    let type = options.type;
    if (type === 'Q8_0' && cols % Q8_0_BLOCK !== 0) type = 'F16';
    tensorTypes[name] = type;
    tensors.push({ name, dims: [cols, rows], type, data });
  };
  const vector = (name: string, data: Float32Array) => {
    tensorTypes[name] = 'F32';
    tensors.push({ name, dims: [data.length], type: 'F32', data });
  };
  const kvDim = c.kvHeads * c.headDim;
  matrix('token_embd.weight', w.tokenEmbedding, c.vocabSize, c.dim);
  w.layers.forEach((l, i) => {
    const b = `blk.${i}.`;
    vector(`${b}attn_norm.weight`, l.attnNorm);
    matrix(`${b}attn_q.weight`, l.wq, c.dim, c.dim);
    matrix(`${b}attn_k.weight`, l.wk, kvDim, c.dim);
    matrix(`${b}attn_v.weight`, l.wv, kvDim, c.dim);
    matrix(`${b}attn_output.weight`, l.wo, c.dim, c.dim);
    vector(`${b}ffn_norm.weight`, l.ffnNorm);
    matrix(`${b}ffn_gate.weight`, l.w1, c.hiddenDim, c.dim);
    matrix(`${b}ffn_down.weight`, l.w2, c.dim, c.hiddenDim);
    matrix(`${b}ffn_up.weight`, l.w3, c.hiddenDim, c.dim);
  });
  vector('output_norm.weight', w.finalNorm);
  if (w.classifier !== w.tokenEmbedding) matrix('output.weight', w.classifier, c.vocabSize, c.dim);
  return { bytes: writeGguf(metadata, tensors), tensorTypes };
}
