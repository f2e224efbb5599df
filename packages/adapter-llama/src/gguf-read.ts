import { fp16Table } from '@skvq/formats';
import { ByteReader } from './byte-reader.js';
import { fail } from './errors.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_READ_VERSIONS,
  GGUF_VALUE,
  type GgmlTypeName,
  type GgufHeader,
  type GgufTensorInfo,
  type GgufValue,
  ggmlTypeName,
  tensorBytes,
} from './gguf-types.js';

const VALUE_NAMES = Object.fromEntries(
  Object.entries(GGUF_VALUE).map(([k, v]) => [v, k]),
) as Record<number, keyof typeof GGUF_VALUE>;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Fewest bytes one array item of each scalar type occupies (a string: its u64 length). */
const MIN_ITEM_BYTES: Record<number, number> = {
  [GGUF_VALUE.u8]: 1,
  [GGUF_VALUE.i8]: 1,
  [GGUF_VALUE.bool]: 1,
  [GGUF_VALUE.u16]: 2,
  [GGUF_VALUE.i16]: 2,
  [GGUF_VALUE.u32]: 4,
  [GGUF_VALUE.i32]: 4,
  [GGUF_VALUE.f32]: 4,
  [GGUF_VALUE.string]: 8,
  [GGUF_VALUE.u64]: 8,
  [GGUF_VALUE.i64]: 8,
  [GGUF_VALUE.f64]: 8,
};
/** Fewest bytes of one metadata pair (key length, type, a 1-byte value). */
const MIN_KV_BYTES = 8 + 4 + 1;
/** Fewest bytes of one tensor info (name length, n_dims, one dim, type, offset). */
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;

function readString(r: ByteReader, field: string): string {
  const len = r.u64(`${field} length`);
  return utf8.decode(r.bytesOf(len, field));
}

function readScalar(r: ByteReader, type: number, field: string): number | boolean | string {
  switch (type) {
    case GGUF_VALUE.u8:
      return r.u8(field);
    case GGUF_VALUE.i8:
      return r.i8(field);
    case GGUF_VALUE.u16:
      return r.u16(field);
    case GGUF_VALUE.i16:
      return r.i16(field);
    case GGUF_VALUE.u32:
      return r.u32(field);
    case GGUF_VALUE.i32:
      return r.i32(field);
    case GGUF_VALUE.f32:
      return r.f32(field);
    case GGUF_VALUE.bool:
      return r.u8(field) !== 0;
    case GGUF_VALUE.string:
      return readString(r, field);
    case GGUF_VALUE.u64:
      return r.u64(field);
    case GGUF_VALUE.i64:
      return Number(r.i64(field));
    case GGUF_VALUE.f64:
      return r.f64(field);
    default:
      return fail(
        'FILE_CORRUPTED',
        `${r.what}: ${field} has metadata value type ${type}; valid types are 0..12`,
        { field, type },
      );
  }
}

function readValue(r: ByteReader, field: string): GgufValue {
  const type = r.u32(`${field} type`);
  if (type === GGUF_VALUE.array) {
    const itemType = r.u32(`${field} item type`);
    if (itemType === GGUF_VALUE.array || VALUE_NAMES[itemType] === undefined) {
      fail(
        'FILE_CORRUPTED',
        `${r.what}: ${field} is an array of type ${itemType}, not a scalar type 0..12 (except 9)`,
        { field, itemType },
      );
    }
    const count = r.u64(`${field} count`);
    // bounded by the bytes present before anything is allocated (FILE_TRUNCATED otherwise)
    r.need(count * (MIN_ITEM_BYTES[itemType] as number), `${field} (${count} items)`);
    const value: Array<number | boolean | string> = new Array(count);
    for (let i = 0; i < count; i++) value[i] = readScalar(r, itemType, `${field}[${i}]`);
    return { type: 'array', itemType: VALUE_NAMES[itemType], value } as GgufValue;
  }
  const value = readScalar(r, type, field);
  return { type: VALUE_NAMES[type], value } as GgufValue;
}

/**
 * Parses the header (magic, version, metadata, tensor infos) of a GGUF file from its
 * leading bytes. Throws FILE_BAD_MAGIC, FILE_UNSUPPORTED_VERSION, FILE_TRUNCATED (also when
 * `bytes` is only a prefix that ends inside the header: streaming readers grow it and retry),
 * FILE_UNSUPPORTED_TYPE for tensor types outside F32, F16, Q4_0, Q8_0.
 */
export function parseGgufHeader(bytes: Uint8Array, what = 'GGUF file'): GgufHeader {
  const r = new ByteReader(bytes, what);
  if (bytes.byteLength >= 4 && r.view.getUint32(0, true) !== GGUF_MAGIC) {
    const got = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    fail(
      'FILE_BAD_MAGIC',
      `${what} does not start with the GGUF magic "GGUF" (47 47 55 46); got ${got}`,
      { magic: got },
    );
  }
  r.u32('magic');
  const version = r.u32('version');
  if (!GGUF_READ_VERSIONS.includes(version)) {
    fail(
      'FILE_UNSUPPORTED_VERSION',
      `${what} is GGUF version ${version}; supported versions: ${GGUF_READ_VERSIONS.join(', ')}`,
      {
        version,
        supported: GGUF_READ_VERSIONS,
      },
    );
  }
  const tensorCount = r.u64('tensor_count');
  const kvCount = r.u64('metadata_kv_count');
  r.need(tensorCount * MIN_TENSOR_INFO_BYTES, `${tensorCount} tensor infos`);
  r.need(kvCount * MIN_KV_BYTES, `${kvCount} metadata pairs`);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = readString(r, `metadata key ${i}`);
    if (metadata.has(key)) {
      fail('FILE_CORRUPTED', `${what}: metadata key ${quoted(key)} appears more than once`, {
        key: key.slice(0, 200),
      });
    }
    metadata.set(key, readValue(r, `metadata ${quoted(key)}`));
  }
  const alignValue = metadata.get('general.alignment');
  const alignment =
    alignValue && typeof alignValue.value === 'number' ? alignValue.value : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    fail(
      'FILE_CORRUPTED',
      `${what}: general.alignment is ${alignment}; it must be a positive multiple of 8`,
      { alignment },
    );
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = readString(r, `tensor ${i} name`);
    if (names.has(name)) {
      fail('FILE_CORRUPTED', `${what}: tensor ${quoted(name)} appears more than once`, {
        tensor: name.slice(0, 200),
      });
    }
    names.add(name);
    const nDims = r.u32(`tensor ${quoted(name)} n_dims`);
    if (nDims < 1 || nDims > 4)
      fail(
        'FILE_CORRUPTED',
        `${what}: tensor ${quoted(name)} has ${nDims} dimensions; expected 1..4`,
        {
          tensor: name,
          nDims,
        },
      );
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(r.u64(`tensor ${quoted(name)} ne[${d}]`));
    const typeId = r.u32(`tensor ${quoted(name)} type`);
    const offset = r.u64(`tensor ${quoted(name)} offset`);
    const type: GgmlTypeName = ggmlTypeName(typeId, name, what);
    const elements = checkedElements(dims, name, what);
    if (offset % alignment !== 0) {
      fail(
        'FILE_CORRUPTED',
        `${what}: tensor ${quoted(name)} starts at data offset ${offset}, not a multiple of the alignment ${alignment}`,
        { tensor: name, offset, alignment },
      );
    }
    tensors.push({
      name,
      dims,
      type,
      offset,
      elements,
      bytes: tensorBytes(type, elements, dims[0] as number, name, what),
    });
  }
  const dataOffset = Math.ceil(r.offset / alignment) * alignment;
  return { version, metadata, tensors, alignment, dataOffset };
}

/** A name for messages, cut short (names are attacker-sized strings). */
function quoted(name: string): string {
  return name.length > 80 ? `"${name.slice(0, 80)}..." (${name.length} chars)` : `"${name}"`;
}

/** The product of `dims`, refused (FILE_CORRUPTED) past 2^53 - 1 where doubles lose integers. */
function checkedElements(dims: readonly number[], name: string, what: string): number {
  let elements = 1;
  for (const d of dims) {
    elements *= d;
    if (elements > Number.MAX_SAFE_INTEGER) {
      fail(
        'FILE_CORRUPTED',
        `${what}: tensor ${quoted(name)} has shape [${dims.join(', ')}], more values than any file holds`,
        { tensor: name, dims },
      );
    }
  }
  return elements;
}

/** Converts a tensor's raw bytes to fp32 (F32 copy, F16 widen, Q8_0 / Q4_0 dequantize). */
export function dequantizeTensor(info: GgufTensorInfo, raw: Uint8Array): Float32Array {
  const out = new Float32Array(info.elements);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  // Exact binary16 values, one table load each (the codec of @skvq/formats, tabulated).
  const f16 = fp16Table();
  switch (info.type) {
    case 'F32':
      new Uint8Array(out.buffer).set(raw.subarray(0, info.elements * 4));
      break;
    case 'F16':
      for (let i = 0; i < info.elements; i++) out[i] = f16[view.getUint16(i * 2, true)]!;
      break;
    case 'Q8_0':
      for (let b = 0; b < info.elements / 32; b++) {
        const base = b * 34;
        const d = f16[view.getUint16(base, true)]!;
        for (let j = 0; j < 32; j++) out[b * 32 + j] = view.getInt8(base + 2 + j) * d;
      }
      break;
    case 'Q4_0':
      // block_q4_0: x[j] = (lo nibble of qs[j]) - 8, x[j + 16] = (hi nibble) - 8
      for (let b = 0; b < info.elements / 32; b++) {
        const base = b * 18;
        const d = f16[view.getUint16(base, true)]!;
        for (let j = 0; j < 16; j++) {
          const q = raw[base + 2 + j] as number;
          out[b * 32 + j] = ((q & 0x0f) - 8) * d;
          out[b * 32 + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      break;
  }
  return out;
}
