import { writeGguf } from '@skvq/adapter-llama';
import { cpuBackend } from '@skvq/backend-cpu';
import { createDenseCache, createQuantizedCache, saveCache } from '@skvq/cache';
import { parseCalibration } from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';

/**
 * Tiny valid inputs of every kind (a few KB each, so thousands of mutations run in
 * seconds): the starting points the mutations corrupt.
 */

/** dim 8, 2 heads (1 kv head), 1 layer, hidden 16, vocab 8, context 16. */
export const TINY = { dim: 8, hiddenDim: 16, layers: 1, heads: 2, kvHeads: 1, vocab: 8, ctx: 16 };
export const TINY_PIECES = ['<unk>', '\n<s>\n', '\n</s>\n', ' ', 'a', 'b', 'ab', ' a'];

function values(n, seed) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 7.1 + i * 0.37) * 0.5;
  return out;
}

export const TINY_KEYS = [
  'general.architecture',
  'general.alignment',
  'llama.embedding_length',
  'llama.feed_forward_length',
  'llama.block_count',
  'llama.attention.head_count',
  'llama.attention.head_count_kv',
  'llama.context_length',
  'llama.attention.layer_norm_rms_epsilon',
  'llama.rope.freq_base',
  'llama.rope.dimension_count',
  'llama.vocab_size',
  'tokenizer.ggml.model',
  'tokenizer.ggml.tokens',
  'tokenizer.ggml.scores',
  'tokenizer.ggml.token_type',
  'tokenizer.ggml.bos_token_id',
  'tokenizer.ggml.eos_token_id',
];

export function tinyMetadata() {
  const u32 = (value) => ({ type: 'u32', value });
  return [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['llama.embedding_length', u32(TINY.dim)],
    ['llama.feed_forward_length', u32(TINY.hiddenDim)],
    ['llama.block_count', u32(TINY.layers)],
    ['llama.attention.head_count', u32(TINY.heads)],
    ['llama.attention.head_count_kv', u32(TINY.kvHeads)],
    ['llama.context_length', u32(TINY.ctx)],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    [
      'tokenizer.ggml.tokens',
      {
        type: 'array',
        itemType: 'string',
        value: TINY_PIECES.map((p) => p.replace(/ /g, '\u2581')),
      },
    ],
    [
      'tokenizer.ggml.scores',
      { type: 'array', itemType: 'f32', value: TINY_PIECES.map((_, i) => -i) },
    ],
    [
      'tokenizer.ggml.token_type',
      { type: 'array', itemType: 'i32', value: [2, 3, 3, 1, 1, 1, 1, 1] },
    ],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(2)],
  ];
}

export function tinyTensorShapes() {
  const { dim, hiddenDim: hid, vocab } = TINY;
  const kvDim = (TINY.kvHeads * dim) / TINY.heads;
  return [
    ['token_embd.weight', [dim, vocab]],
    ['blk.0.attn_norm.weight', [dim]],
    ['blk.0.attn_q.weight', [dim, dim]],
    ['blk.0.attn_k.weight', [dim, kvDim]],
    ['blk.0.attn_v.weight', [dim, kvDim]],
    ['blk.0.attn_output.weight', [dim, dim]],
    ['blk.0.ffn_norm.weight', [dim]],
    ['blk.0.ffn_gate.weight', [dim, hid]],
    ['blk.0.ffn_down.weight', [hid, dim]],
    ['blk.0.ffn_up.weight', [dim, hid]],
    ['output_norm.weight', [dim]],
  ];
}

export function tinyGguf(metadata = tinyMetadata(), type = 'F32') {
  return writeGguf(
    metadata,
    tinyTensorShapes().map(([name, dims], i) => ({
      name,
      dims,
      type: type === 'Q8_0' && dims[0] % 32 !== 0 ? 'F32' : type,
      data: values(
        dims.reduce((a, b) => a * b, 1),
        i + 1,
      ),
    })),
  );
}

/** Tensor counts of a llama2.c file in storage order (v0 adds the legacy RoPE tables). */
function llama2cCounts(version) {
  const { dim, hiddenDim: hid, layers, heads, kvHeads, vocab, ctx } = TINY;
  const kvDim = (kvHeads * dim) / heads;
  const mats = [
    vocab * dim,
    dim * dim,
    kvDim * dim,
    kvDim * dim,
    dim * dim,
    hid * dim,
    dim * hid,
    hid * dim,
  ];
  if (version === 0)
    return [
      ...mats.slice(0, 1),
      layers * dim,
      ...mats.slice(1, 5),
      layers * dim,
      ...mats.slice(5),
      dim,
      ctx * (dim / heads),
    ];
  return [2 * layers * dim, dim, ...mats];
}

/** A tiny llama2.c checkpoint: version 0 (legacy) or 1 (fp32, 256-byte header). */
export function tinyLlama2c(version = 0) {
  const { dim, hiddenDim: hid, layers, heads, kvHeads, vocab, ctx } = TINY;
  const total = llama2cCounts(version).reduce((a, b) => a + b, 0);
  const header = version === 0 ? 28 : 256;
  const bytes = new Uint8Array(header + total * 4);
  const view = new DataView(bytes.buffer);
  let o = 0;
  if (version !== 0) {
    view.setUint32(0, 0x616b3432, true);
    view.setInt32(4, version, true);
    o = 8;
  }
  for (const v of [dim, hid, layers, heads, kvHeads, vocab, ctx]) {
    view.setInt32(o, v, true);
    o += 4;
  }
  if (version !== 0) bytes[o] = 1; // shared classifier
  new Uint8Array(bytes.buffer, header).set(new Uint8Array(values(total, 3).buffer));
  return bytes;
}

export function tinyTokenizerBin() {
  const enc = TINY_PIECES.map((p) => Uint8Array.from(p, (c) => c.charCodeAt(0)));
  const bytes = new Uint8Array(4 + enc.reduce((a, p) => a + 8 + p.length, 0));
  const view = new DataView(bytes.buffer);
  view.setInt32(0, 8, true);
  let o = 4;
  enc.forEach((p, i) => {
    view.setFloat32(o, -i, true);
    view.setInt32(o + 4, p.length, true);
    bytes.set(p, o + 8);
    o += 8 + p.length;
  });
  return bytes;
}

/** The cache geometry of the cache fuzz kinds: 2 layers, kvHidden 16. */
export const CACHE_GEOMETRY = Object.freeze({
  layers: 2,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 8,
  rope: Object.freeze({ style: 'pairwise', theta: 10000 }),
});
const CH = CACHE_GEOMETRY.kvHeads * CACHE_GEOMETRY.headDim;

function stream(bits, seed) {
  const perm = Array.from({ length: CH }, (_, i) => (i * 5 + seed) % CH);
  return {
    bits,
    perm,
    groupOffsets: [0, 4, 8, 12, 16],
    alpha: 0.95,
    alphaSearch: { grid: [0.9, 0.95, 1], errors: [0.3, 0.1, 0.2] },
  };
}

/** A valid calibration artifact (JSON-ready object) for CACHE_GEOMETRY, a fresh copy each call. */
export function calibrationObject() {
  return structuredClone({
    format: 'skvq-calibration',
    version: 1,
    createdAt: '2026-12-01T00:00:00.000Z',
    model: { name: 'tiny', fingerprint: 'sha256:00' },
    geometry: CACHE_GEOMETRY,
    settings: {
      groupSize: 4,
      grouping: 'cluster',
      meta: 'fp8e4m3',
      seed: 1,
      restarts: 2,
      alphaGrid: [0.9, 0.95, 1],
    },
    data: { source: 'fuzz', tokens: 64 },
    layers: [
      { k: stream(2, 1), v: stream(1.5, 3) },
      { k: stream(2, 7), v: stream(1.5, 11) },
    ],
  });
}

/** Options of the caches the API and saved-cache kinds use (the README configuration). */
export function cacheOptions(kind) {
  if (kind === 'dense-fp32')
    return { geometry: CACHE_GEOMETRY, precision: 'fp32', backend: cpuBackend };
  if (kind === 'dense-fp16')
    return { geometry: CACHE_GEOMETRY, precision: 'fp16', backend: cpuBackend };
  const meta = kind === 'skvq-fp16meta' ? 'fp16' : 'fp8e4m3';
  return {
    geometry: CACHE_GEOMETRY,
    backend: cpuBackend,
    keys: { quantizer: groupClipQuantizer, bits: 2, meta, groupSize: 4 },
    values: { quantizer: groupClipQuantizer, bits: 1.5, meta, groupSize: 4 },
    calibration: parseCalibration(calibrationObject()),
    policy: slidingWindowPolicy,
    window: 16,
    sinks: 2,
    pageTokens: 32,
  };
}

export const CACHE_KINDS = ['dense-fp32', 'dense-fp16', 'skvq-fp8', 'skvq-fp16meta'];

export function makeCache(kind) {
  const options = cacheOptions(kind);
  return kind.startsWith('dense') ? createDenseCache(options) : createQuantizedCache(options);
}

/** Deterministic activations in (-scale, scale). */
export function activations(n, seed, scale = 1) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 12.9898 + i * 78.233) * scale;
  return out;
}

/** A saved cache of `kind` holding 40 tokens per layer (past the window of 16). */
export function savedCache(kind) {
  const cache = makeCache(kind);
  for (let layer = 0; layer < CACHE_GEOMETRY.layers; layer++) {
    cache.append(layer, activations(40 * CH, layer + 1), activations(40 * CH, layer + 9), 40);
  }
  return saveCache(cache);
}

export { CH as CACHE_CHANNELS };
