import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fileError, ioError } from './errors.js';
import { elementCount, type TensorEntry } from './tensor-file.js';

/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] },
 * "__metadata__": { string: string } }`, then the data; offsets are relative to the end of
 * the header. Only the header is read here: tensors are streamed later by offset.
 */

/** Element sizes of every safetensors dtype, to check declared offsets of any tensor. */
const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The format's own cap on the header (100 MB): anything larger is a corrupt length field. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsHeader {
  file: string;
  fileBytes: number;
  metadata: Record<string, string>;
  /** Tensors in header order. */
  tensors: TensorEntry[];
}

function readExactly(fd: number, file: string, length: number, position: number): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, buf, done, length - done, position + done);
    } catch (error) {
      ioError(file, 'read', error);
    }
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/** Reads and validates the header of a safetensors file (never its data). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    ioError(file, 'open', error);
  }
  try {
    const fileBytes = fstatSync(fd).size;
    if (fileBytes < 8) {
      fileError(
        'FILE_TRUNCATED',
        { file },
        `${fileBytes} bytes; a safetensors file starts with an 8-byte header length`,
        {
          expected: 8,
          actual: fileBytes,
        },
      );
    }
    const lenBytes = readExactly(fd, file, 8, 0);
    const declared = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (declared > BigInt(MAX_HEADER_BYTES)) {
      fileError(
        'FILE_CORRUPTED',
        { file },
        `header length ${declared} exceeds safetensors' limit of ${MAX_HEADER_BYTES} bytes; not a safetensors file?`,
        {
          declared: Number(declared),
          expected: MAX_HEADER_BYTES,
        },
      );
    }
    const headerBytes = Number(declared);
    if (8 + headerBytes > fileBytes) {
      fileError(
        'FILE_TRUNCATED',
        { file },
        `header declares ${headerBytes} bytes but the file has only ${fileBytes - 8} after the length field`,
        {
          expected: 8 + headerBytes,
          actual: fileBytes,
        },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(readExactly(fd, file, headerBytes, 8)));
    } catch (error) {
      fileError(
        'FILE_CORRUPTED',
        { file },
        `header is not valid JSON (${(error as Error).message})`,
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      fileError('FILE_CORRUPTED', { file }, 'header must be a JSON object');
    }
    return parseHeader(file, fileBytes, 8 + headerBytes, json as Record<string, unknown>);
  } finally {
    closeSync(fd);
  }
}

function parseHeader(
  file: string,
  fileBytes: number,
  dataStart: number,
  json: Record<string, unknown>,
): SafetensorsHeader {
  const metadata: Record<string, string> = {};
  const rawMeta = json.__metadata__;
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null) {
      fileError('FILE_CORRUPTED', { file }, '__metadata__ must be an object of strings');
    }
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== 'string') {
        fileError(
          'FILE_CORRUPTED',
          { file },
          `__metadata__.${k} is ${typeof v}; safetensors metadata values are strings`,
        );
      }
      metadata[k] = v;
    }
  }
  const tensors: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const where = { file, tensor: name };
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = SAFETENSORS_DTYPE_BYTES[String(info?.dtype)];
    if (size === undefined) {
      fileError(
        'FILE_UNSUPPORTED_TYPE',
        where,
        `dtype ${String(info?.dtype)} is not a safetensors dtype; expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`,
      );
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fileError(
        'FILE_CORRUPTED',
        where,
        `shape ${JSON.stringify(shape)} must be an array of non-negative integers`,
      );
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[1] < offsets[0]
    ) {
      fileError(
        'FILE_CORRUPTED',
        where,
        `data_offsets ${JSON.stringify(offsets)} must be [begin, end] with 0 <= begin <= end`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const expected = elementCount(shape) * size;
    if (end - begin !== expected) {
      fileError(
        'FILE_CORRUPTED',
        where,
        `data_offsets span ${end - begin} bytes; shape [${shape.join(', ')}] of ${String(info.dtype)} needs ${expected}`,
        {
          expected,
          actual: end - begin,
        },
      );
    }
    if (dataStart + end > fileBytes) {
      fileError(
        'FILE_TRUNCATED',
        where,
        `data is declared to end at byte ${dataStart + end} but the file has ${fileBytes} bytes`,
        {
          expected: dataStart + end,
          actual: fileBytes,
        },
      );
    }
    tensors.push({
      file,
      name,
      dtype: String(info.dtype),
      shape: [...shape],
      offset: dataStart + begin,
      byteLength: expected,
    });
  }
  return { file, fileBytes, metadata, tensors };
}
