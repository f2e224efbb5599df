import { fail } from './errors.js';

/** "GGUF" read as a little-endian uint32. */
export const GGUF_MAGIC = 0x46554747;
/** The version this library writes; it reads 2 and 3 (same layout, 64-bit counts). */
export const GGUF_VERSION = 3;
export const GGUF_READ_VERSIONS: readonly number[] = [2, 3];
/** general.alignment default (gguf.md). */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf.md gguf_metadata_value_type). */
export const GGUF_VALUE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE, 'array'>;

/** One metadata value with its declared type (kept so files round-trip exactly). */
export type GgufValue =
  | { type: Exclude<GgufScalarType, 'string' | 'bool'>; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: Exclude<GgufScalarType, 'string' | 'bool'>; value: number[] }
  | { type: 'array'; itemType: 'string'; value: string[] }
  | { type: 'array'; itemType: 'bool'; value: boolean[] };

/** ggml tensor types this library reads (and, except Q4_0, writes). */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;
export const SUPPORTED_GGML_TYPES: readonly GgmlTypeName[] = ['F32', 'F16', 'Q4_0', 'Q8_0'];

/** Names of other ggml types, for error messages (ggml.h enum ggml_type). */
const OTHER_GGML_TYPES: Record<number, string> = {
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  9: 'Q8_1',
  10: 'Q2_K',
  11: 'Q3_K',
  12: 'Q4_K',
  13: 'Q5_K',
  14: 'Q6_K',
  15: 'Q8_K',
  16: 'IQ2_XXS',
  17: 'IQ2_XS',
  18: 'IQ3_XXS',
  19: 'IQ1_S',
  20: 'IQ4_NL',
  21: 'IQ3_S',
  22: 'IQ2_S',
  23: 'IQ4_XS',
  24: 'I8',
  25: 'I16',
  26: 'I32',
  27: 'I64',
  28: 'F64',
  29: 'IQ1_M',
  30: 'BF16',
};

/** Elements per block and bytes per block of each supported type (ggml-common.h). */
export const GGML_BLOCK: Record<GgmlTypeName, { elements: number; bytes: number }> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  // block_q4_0: fp16 d + 16 bytes of nibbles
  Q4_0: { elements: 32, bytes: 18 },
  // block_q8_0: fp16 d + 32 int8
  Q8_0: { elements: 32, bytes: 34 },
};

export function ggmlTypeName(id: number, tensor: string, what: string): GgmlTypeName {
  for (const name of SUPPORTED_GGML_TYPES) if (GGML_TYPE[name] === id) return name;
  const known = OTHER_GGML_TYPES[id];
  fail(
    'FILE_UNSUPPORTED_TYPE',
    `${what}: tensor "${tensor}" has ggml type ${known ?? 'unknown'} (${id}); supported types: ${SUPPORTED_GGML_TYPES.join(', ')}`,
    { tensor, type: id, typeName: known, supported: SUPPORTED_GGML_TYPES },
  );
}

/** Bytes of a tensor of `elements` values of `type` (rows must hold whole blocks). */
export function tensorBytes(
  type: GgmlTypeName,
  elements: number,
  rowLength: number,
  tensor: string,
  what: string,
): number {
  const block = GGML_BLOCK[type];
  if (rowLength % block.elements !== 0) {
    fail(
      'FILE_CORRUPTED',
      `${what}: tensor "${tensor}" of type ${type} has rows of ${rowLength} values, not a multiple of its block of ${block.elements}`,
      { tensor, type, rowLength },
    );
  }
  return (elements / block.elements) * block.bytes;
}

export interface GgufTensorInfo {
  name: string;
  /** ne[0] first: ne[0] is the row length (contiguous). */
  dims: number[];
  type: GgmlTypeName;
  /** Offset from the start of the data section. */
  offset: number;
  elements: number;
  bytes: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** File offset of the tensor data section. */
  dataOffset: number;
}
