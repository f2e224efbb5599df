import { ByteReader } from './byte-reader.js';
import { checkLlamaConfig } from './config-check.js';
import { fail } from './errors.js';
import { checkLlama2cSize } from './llama2c-size.js';
import {
  DEFAULT_ROPE_THETA,
  kvDimOf,
  type LayerWeights,
  LLAMA2C_NORM_EPS,
  type LlamaConfig,
  type LlamaWeights,
} from './weights.js';

/** "ak42" read as a little-endian uint32: the magic of llama2.c's versioned exports. */
export const LLAMA2C_MAGIC = 0x616b3432;
/** Versioned exports pad their header to 256 bytes (llama2.c export.py). */
const LLAMA2C_HEADER_BYTES = 256;

export interface Llama2cCheckpoint {
  config: LlamaConfig;
  weights: LlamaWeights;
  /** 0 (legacy), 1 (fp32) or 2 (Q8_0 groups). */
  version: number;
  sharedClassifier: boolean;
}

/** True when the bytes start like a llama2.c checkpoint (versioned magic, or a sane v0 header). */
export function sniffLlama2c(header: Uint8Array): boolean {
  if (header.byteLength < 28) return false;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getUint32(0, true) === LLAMA2C_MAGIC) return true;
  const ints = Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true));
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = ints as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const vocabAbs = Math.abs(vocab);
  return (
    dim > 0 &&
    dim <= 65536 &&
    hidden > 0 &&
    hidden <= 262144 &&
    layers > 0 &&
    layers <= 1024 &&
    heads > 0 &&
    dim % heads === 0 &&
    kvHeads > 0 &&
    heads % kvHeads === 0 &&
    vocabAbs > 0 &&
    vocabAbs <= 1 << 22 &&
    seqLen > 0 &&
    seqLen <= 1 << 22
  );
}

function configFrom(ints: number[], what: string): { config: LlamaConfig; vocabSigned: number } {
  const [dim, hiddenDim, layers, heads, kvHeads, vocabSigned, contextLength] = ints as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const config = checkLlamaConfig(
    {
      dim,
      hiddenDim,
      layers,
      heads,
      kvHeads,
      vocabSize: Math.abs(vocabSigned),
      contextLength,
      headDim: heads > 0 ? dim / heads : 0,
      normEps: LLAMA2C_NORM_EPS,
      ropeTheta: DEFAULT_ROPE_THETA,
    },
    what,
  );
  return { config, vocabSigned };
}

/** Reads tensors in file order through one callback (fp32 or Q8_0 groups). */
type TensorReader = (count: number, field: string) => Float32Array;

function perLayer(
  config: LlamaConfig,
  read: TensorReader,
  size: number,
  field: string,
): Float32Array[] {
  return Array.from({ length: config.layers }, (_, l) => read(size, `${field}[${l}]`));
}

function assemble(
  config: LlamaConfig,
  parts: {
    tokenEmbedding: Float32Array;
    attnNorm: Float32Array[];
    ffnNorm: Float32Array[];
    wq: Float32Array[];
    wk: Float32Array[];
    wv: Float32Array[];
    wo: Float32Array[];
    w1: Float32Array[];
    w2: Float32Array[];
    w3: Float32Array[];
    finalNorm: Float32Array;
    classifier: Float32Array;
  },
): LlamaWeights {
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    layers.push({
      attnNorm: parts.attnNorm[l] as Float32Array,
      wq: parts.wq[l] as Float32Array,
      wk: parts.wk[l] as Float32Array,
      wv: parts.wv[l] as Float32Array,
      wo: parts.wo[l] as Float32Array,
      ffnNorm: parts.ffnNorm[l] as Float32Array,
      w1: parts.w1[l] as Float32Array,
      w2: parts.w2[l] as Float32Array,
      w3: parts.w3[l] as Float32Array,
    });
  }
  return {
    tokenEmbedding: parts.tokenEmbedding,
    layers,
    finalNorm: parts.finalNorm,
    classifier: parts.classifier,
  };
}

/** llama2.c "v0" (legacy_export): 7 int32 header, fp32 tensors, legacy RoPE tables. */
function readV0(bytes: Uint8Array, what: string): Llama2cCheckpoint {
  const r = new ByteReader(bytes, what);
  const ints = Array.from({ length: 7 }, (_, i) => r.i32(`header[${i}]`));
  const { config, vocabSigned } = configFrom(ints, what);
  checkLlama2cSize(
    bytes.byteLength,
    config,
    { version: 0, sharedClassifier: vocabSigned > 0, groupSize: 0 },
    what,
  );
  const { dim, hiddenDim: hid, vocabSize: vocab } = config;
  const kvDim = kvDimOf(config);
  const read: TensorReader = (n, field) => r.f32Array(n, field);
  const tokenEmbedding = read(vocab * dim, 'token_embedding_table');
  const attnNorm = perLayer(config, read, dim, 'rms_att_weight');
  const wq = perLayer(config, read, dim * dim, 'wq');
  const wk = perLayer(config, read, kvDim * dim, 'wk');
  const wv = perLayer(config, read, kvDim * dim, 'wv');
  const wo = perLayer(config, read, dim * dim, 'wo');
  const ffnNorm = perLayer(config, read, dim, 'rms_ffn_weight');
  const w1 = perLayer(config, read, hid * dim, 'w1');
  const w2 = perLayer(config, read, dim * hid, 'w2');
  const w3 = perLayer(config, read, hid * dim, 'w3');
  const finalNorm = read(dim, 'rms_final_weight');
  // Two legacy RoPE tables (freq_cis_real, freq_cis_imag), unused: RoPE is computed.
  const ropeTable = (config.contextLength * config.headDim) / 2;
  r.need(ropeTable * 4 * 2, 'freq_cis_real/imag');
  r.offset += ropeTable * 4 * 2;
  const shared = vocabSigned > 0;
  const classifier = shared ? tokenEmbedding : read(vocab * dim, 'wcls');
  return {
    config,
    version: 0,
    sharedClassifier: shared,
    weights: assemble(config, {
      tokenEmbedding,
      attnNorm,
      ffnNorm,
      wq,
      wk,
      wv,
      wo,
      w1,
      w2,
      w3,
      finalNorm,
      classifier,
    }),
  };
}

/** Versioned exports (export.py version1_export / version2_export). */
function readVersioned(bytes: Uint8Array, what: string): Llama2cCheckpoint {
  const r = new ByteReader(bytes, what);
  r.u32('magic');
  const version = r.i32('version');
  if (version !== 1 && version !== 2) {
    fail(
      'FILE_UNSUPPORTED_VERSION',
      `${what} is llama2.c export version ${version}; supported versions: 0, 1, 2`,
      { version, supported: [0, 1, 2] },
    );
  }
  const ints = Array.from({ length: 7 }, (_, i) => r.i32(`header[${i}]`));
  const { config } = configFrom(ints, what);
  const shared = r.u8('shared_classifier') !== 0;
  const groupSize = version === 2 ? r.i32('group_size') : 0;
  r.need(LLAMA2C_HEADER_BYTES - r.offset, 'header padding');
  checkLlama2cSize(
    bytes.byteLength,
    config,
    { version, sharedClassifier: shared, groupSize },
    what,
  );
  r.offset = LLAMA2C_HEADER_BYTES;
  const { dim, hiddenDim: hid, vocabSize: vocab } = config;
  const kvDim = kvDimOf(config);
  const fp32: TensorReader = (n, field) => r.f32Array(n, field);
  // Version 2: int8 values then one fp32 scale per group of `groupSize` (Q8_0 groups).
  const q8: TensorReader = (n, field) => {
    if (groupSize <= 0 || n % groupSize !== 0) {
      fail(
        'FILE_CORRUPTED',
        `${what}: ${field} has ${n} values, not a multiple of the group size ${groupSize}`,
        { field, groupSize },
      );
    }
    const q = r.bytesOf(n, `${field} (int8)`);
    const scales = r.f32Array(n / groupSize, `${field} (scales)`);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = ((q[i] as number) << 24) >> 24;
      out[i] = v * (scales[(i / groupSize) | 0] as number);
    }
    return out;
  };
  const attnNorm = perLayer(config, fp32, dim, 'attention_norm');
  const ffnNorm = perLayer(config, fp32, dim, 'ffn_norm');
  const finalNorm = fp32(dim, 'norm');
  const read = version === 2 ? q8 : fp32;
  const tokenEmbedding = read(vocab * dim, 'tok_embeddings');
  const wq = perLayer(config, read, dim * dim, 'wq');
  const wk = perLayer(config, read, kvDim * dim, 'wk');
  const wv = perLayer(config, read, kvDim * dim, 'wv');
  const wo = perLayer(config, read, dim * dim, 'wo');
  const w1 = perLayer(config, read, hid * dim, 'w1');
  const w2 = perLayer(config, read, dim * hid, 'w2');
  const w3 = perLayer(config, read, hid * dim, 'w3');
  const classifier = shared ? tokenEmbedding : read(vocab * dim, 'output');
  return {
    config,
    version,
    sharedClassifier: shared,
    weights: assemble(config, {
      tokenEmbedding,
      attnNorm,
      ffnNorm,
      wq,
      wk,
      wv,
      wo,
      w1,
      w2,
      w3,
      finalNorm,
      classifier,
    }),
  };
}

/**
 * Parses a llama2.c checkpoint (v0 legacy, v1 fp32, v2 Q8_0 groups) into fp32 weights.
 * Throws FILE_TRUNCATED / FILE_CORRUPTED / FILE_UNSUPPORTED_VERSION; never returns a
 * partial model.
 */
export function parseLlama2c(bytes: Uint8Array, what = 'llama2.c checkpoint'): Llama2cCheckpoint {
  if (bytes.byteLength < 28) {
    fail('FILE_TRUNCATED', `${what} is truncated: ${bytes.byteLength} bytes, header needs 28`, {
      fileSize: bytes.byteLength,
    });
  }
  const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  return magic === LLAMA2C_MAGIC ? readVersioned(bytes, what) : readV0(bytes, what);
}
