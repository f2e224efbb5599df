import { closeSync, openSync, writeSync } from 'node:fs';
import { SkvqError } from '@skvq/core';
import { writeAtomically } from './atomic.js';
import { DTYPE_BYTES, encodeHalves } from './dtypes.js';
import { ioError } from './errors.js';
import { npyHeaderBytes } from './npy.js';
import { elementCount } from './tensor-file.js';

/** Element types the writer produces. */
export type WriteDtype = 'F32' | 'F16' | 'BF16' | 'I32';

/**
 * A chunk of a tensor's elements in row-major order: Float32Array for float dtypes (F16 /
 * BF16 are rounded to nearest even), Uint16Array for already-encoded F16 / BF16 bits,
 * Int32Array for I32.
 */
export type TensorChunk = Float32Array | Uint16Array | Int32Array;

/**
 * A tensor's elements: one array, several arrays concatenated, or a producer that emits
 * chunks in order (a multi-GB tensor is never held whole).
 */
export type TensorData =
  | TensorChunk
  | readonly TensorChunk[]
  | ((emit: (chunk: TensorChunk) => void) => void);

export interface TensorToWrite {
  name: string;
  dtype: WriteDtype;
  shape: readonly number[];
  data: TensorData;
}

function chunkBytes(t: TensorToWrite, chunk: TensorChunk): Uint8Array {
  const ok =
    (t.dtype === 'F32' && chunk instanceof Float32Array) ||
    (t.dtype === 'I32' && chunk instanceof Int32Array) ||
    ((t.dtype === 'F16' || t.dtype === 'BF16') &&
      (chunk instanceof Float32Array || chunk instanceof Uint16Array));
  if (!ok) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `tensor "${t.name}": a ${chunk.constructor.name} chunk cannot be written as ${t.dtype}; expected Float32Array (F32, F16, BF16), Uint16Array (encoded F16, BF16) or Int32Array (I32)`,
      { details: { tensor: t.name, dtype: t.dtype } },
    );
  }
  const encoded =
    (t.dtype === 'F16' || t.dtype === 'BF16') && chunk instanceof Float32Array
      ? encodeHalves(t.dtype, chunk)
      : chunk;
  return new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}

/** Writes a tensor's data at the file's current end; checks the element count. */
function writeData(fd: number, file: string, t: TensorToWrite): void {
  let written = 0;
  const expected = elementCount(t.shape);
  const emit = (chunk: TensorChunk) => {
    const bytes = chunkBytes(t, chunk);
    written += chunk.length;
    if (written > expected) return;
    try {
      writeSync(fd, bytes);
    } catch (error) {
      ioError(file, `write tensor "${t.name}"`, error);
    }
  };
  const d = t.data;
  if (typeof d === 'function') d(emit);
  else if (Array.isArray(d)) for (const c of d as readonly TensorChunk[]) emit(c);
  else emit(d as TensorChunk);
  if (written !== expected) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `tensor "${t.name}": ${written} elements were given; shape [${t.shape.join(', ')}] needs ${expected}`,
      { details: { tensor: t.name, expected, actual: written } },
    );
  }
}

function checkNames(tensors: readonly TensorToWrite[]): void {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || seen.has(t.name)) {
      throw new SkvqError('INVALID_ARGUMENT', `tensor name "${t.name}" is reserved or repeated`, {
        details: { tensor: t.name },
      });
    }
    seen.add(t.name);
  }
}

/**
 * Writes a safetensors file atomically (a temporary sibling renamed at the end), tensors in
 * the given order, header padded with spaces to 8 bytes as the reference implementation does.
 */
export function writeSafetensors(
  file: string,
  tensors: readonly TensorToWrite[],
  metadata: Readonly<Record<string, string>> = {},
): void {
  checkNames(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
    header[t.name] = {
      dtype: t.dtype,
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  writeAtomically(file, (tmp) => {
    const fd = openFile(tmp);
    try {
      writeSync(fd, prefix);
      writeSync(fd, headerBytes);
      for (const t of tensors) writeData(fd, file, t);
    } finally {
      closeSync(fd);
    }
  });
}

/** Writes one tensor as a .npy file (version 1.0) atomically. BF16 has no .npy type. */
export function writeNpy(file: string, tensor: TensorToWrite): void {
  if (tensor.dtype === 'BF16') {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `tensor "${tensor.name}": .npy has no bfloat16 type; write F32 or F16, or use safetensors`,
      { details: { tensor: tensor.name, dtype: tensor.dtype } },
    );
  }
  writeAtomically(file, (tmp) => writeNpyTo(tmp, tensor));
}

/** Writes a .npy file at `file` directly (the caller provides atomicity). */
export function writeNpyTo(file: string, tensor: TensorToWrite): void {
  const fd = openFile(file);
  try {
    writeSync(fd, npyHeaderBytes(tensor.dtype, tensor.shape));
    writeData(fd, file, tensor);
  } finally {
    closeSync(fd);
  }
}

function openFile(file: string): number {
  try {
    return openSync(file, 'w');
  } catch (error) {
    ioError(file, 'create', error);
  }
}
