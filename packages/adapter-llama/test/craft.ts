import { GGUF_VALUE } from '../src/gguf-types.js';
import { GGML_TYPE, GGUF_MAGIC, type GgufValue, writeGguf } from '../src/index.js';

/**
 * Hand-made model files for hostile-input tests: tiny valid ones (a few KB, so thousands
 * of mutations run in seconds) and a raw GGUF writer that puts any declared dims, type and
 * offset in a tensor info without the data to match.
 */

/** A tiny llama: dim 8, 2 heads (1 kv head), 1 layer, hidden 16, vocab 8, context 16. */
export const TINY = { dim: 8, hiddenDim: 16, layers: 1, heads: 2, kvHeads: 1, vocab: 8, ctx: 16 };

/** Pieces of the tiny vocabulary (llama2.c ids: 0 unk, 1 BOS, 2 EOS). */
export const TINY_PIECES = ['<unk>', '\n<s>\n', '\n</s>\n', ' ', 'a', 'b', 'ab', ' a'];

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 7.1 + i * 0.37) * 0.5;
  return out;
}

/** Tensors of the tiny model in GGUF names and ne order. */
export function tinyTensors(): Array<{ name: string; dims: number[]; data: Float32Array }> {
  const { dim, hiddenDim: hid, vocab } = TINY;
  const kvDim = (TINY.kvHeads * dim) / TINY.heads;
  const t = (name: string, dims: number[], seed: number) => ({
    name,
    dims,
    data: values(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ),
  });
  return [
    t('token_embd.weight', [dim, vocab], 1),
    t('blk.0.attn_norm.weight', [dim], 2),
    t('blk.0.attn_q.weight', [dim, dim], 3),
    t('blk.0.attn_k.weight', [dim, kvDim], 4),
    t('blk.0.attn_v.weight', [dim, kvDim], 5),
    t('blk.0.attn_output.weight', [dim, dim], 6),
    t('blk.0.ffn_norm.weight', [dim], 7),
    t('blk.0.ffn_gate.weight', [dim, hid], 8),
    t('blk.0.ffn_down.weight', [hid, dim], 9),
    t('blk.0.ffn_up.weight', [dim, hid], 10),
    t('output_norm.weight', [dim], 11),
  ];
}

/** Metadata of the tiny GGUF (llama keys and a SentencePiece vocabulary). */
export function tinyMetadata(): Array<[string, GgufValue]> {
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  return [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'tiny' }],
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

/** A valid tiny GGUF file (F32 tensors), with metadata edited by `edit` when given. */
export function tinyGguf(
  edit: (metadata: Array<[string, GgufValue]>) => Array<[string, GgufValue]> = (m) => m,
): Uint8Array {
  return writeGguf(
    edit(tinyMetadata()),
    tinyTensors().map((t) => ({ ...t, type: 'F32' as const })),
  );
}

/** Replaces (or adds) metadata key `key`. */
export function withKey(
  metadata: Array<[string, GgufValue]>,
  key: string,
  value: GgufValue,
): Array<[string, GgufValue]> {
  const out = metadata.filter(([k]) => k !== key);
  out.push([key, value]);
  return out;
}

/** A valid tiny llama2.c v0 checkpoint (shared classifier). */
export function tinyLlama2c(): Uint8Array {
  const { dim, hiddenDim: hid, layers, heads, kvHeads, vocab, ctx } = TINY;
  const kvDim = (kvHeads * dim) / heads;
  const counts = [
    vocab * dim,
    layers * dim,
    layers * dim * dim,
    layers * kvDim * dim,
    layers * kvDim * dim,
    layers * dim * dim,
    layers * dim,
    layers * hid * dim,
    layers * dim * hid,
    layers * hid * dim,
    dim,
    ctx * (dim / heads), // the two legacy RoPE tables, ctx * headDim / 2 each
  ];
  const total = counts.reduce((a, b) => a + b, 0);
  const bytes = new Uint8Array(28 + total * 4);
  const view = new DataView(bytes.buffer);
  [dim, hid, layers, heads, kvHeads, vocab, ctx].forEach((v, i) => {
    view.setInt32(i * 4, v, true);
  });
  const data = values(total, 3);
  new Uint8Array(bytes.buffer, 28).set(new Uint8Array(data.buffer));
  return bytes;
}

/** A llama2.c tokenizer.bin for the tiny vocabulary. */
export function tinyTokenizerBin(): Uint8Array {
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

/** A tensor info written as declared: dims, ggml type id and offset need not match any data. */
export interface RawTensorInfo {
  name: string;
  dims: Array<number | bigint>;
  type: number;
  offset: number | bigint;
}

/**
 * A GGUF v3 file whose tensor infos are written exactly as given, followed by `dataBytes`
 * zero bytes of data section (aligned to 32).
 */
export function rawGguf(
  metadata: Array<[string, GgufValue]>,
  tensors: RawTensorInfo[],
  dataBytes: number,
): Uint8Array {
  // the metadata through the real writer (no tensors), then the tensor count patched
  const head = writeGguf(metadata, []);
  const parts: number[] = [];
  const u32 = (v: number) => {
    for (let i = 0; i < 4; i++) parts.push((v >>> (8 * i)) & 0xff);
  };
  const u64 = (v: number | bigint) => {
    let b = BigInt(v);
    for (let i = 0; i < 8; i++) {
      parts.push(Number(b & 0xffn));
      b >>= 8n;
    }
  };
  for (const t of tensors) {
    const name = new TextEncoder().encode(t.name);
    u64(name.length);
    parts.push(...name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(t.type);
    u64(t.offset);
  }
  // header length without writeGguf's trailing alignment padding: recompute it
  const unpadded = metadataEnd(head);
  const headerLength = unpadded + parts.length;
  const dataOffset = Math.ceil(headerLength / 32) * 32;
  const out = new Uint8Array(dataOffset + dataBytes);
  out.set(head.subarray(0, unpadded));
  out.set(parts, unpadded);
  const view = new DataView(out.buffer);
  view.setUint32(0, GGUF_MAGIC, true);
  view.setBigUint64(8, BigInt(tensors.length), true);
  return out;
}

/** End of the metadata section of a file written by writeGguf with no tensors. */
function metadataEnd(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kv = Number(view.getBigUint64(16, true));
  let o = 24;
  const str = () => {
    const n = Number(view.getBigUint64(o, true));
    o += 8 + n;
  };
  const size: Record<number, number> = {
    0: 1,
    1: 1,
    7: 1,
    2: 2,
    3: 2,
    4: 4,
    5: 4,
    6: 4,
    10: 8,
    11: 8,
    12: 8,
  };
  const scalar = (type: number) => {
    if (type === GGUF_VALUE.string) str();
    else o += size[type] as number;
  };
  for (let i = 0; i < kv; i++) {
    str();
    const type = view.getUint32(o, true);
    o += 4;
    if (type === GGUF_VALUE.array) {
      const item = view.getUint32(o, true);
      const count = Number(view.getBigUint64(o + 4, true));
      o += 12;
      for (let j = 0; j < count; j++) scalar(item);
    } else scalar(type);
  }
  return o;
}

export { GGML_TYPE };
