import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { fileError, ioError } from './errors.js';
import { elementCount, type TensorEntry } from './tensor-file.js';

/**
 * NumPy's .npy format (numpy.lib.format): magic `\x93NUMPY`, version byte pair, header
 * length (uint16 for 1.0, uint32 for 2.0 / 3.0), a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (T, C), }`, then C-order data. The
 * tensor's name is the file name without `.npy` (`layers.0.k.npy` is `layers.0.k`).
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** descr -> dtype name (safetensors spelling). bfloat16 has no standard .npy descr. */
const NPY_DTYPES: Readonly<Record<string, string>> = {
  '<f4': 'F32',
  '<f2': 'F16',
  '<i4': 'I32',
  '<i8': 'I64',
};

/** dtype -> descr, for the writer. */
export const NPY_DESCR: Readonly<Record<string, string>> = {
  F32: '<f4',
  F16: '<f2',
  I32: '<i4',
  I64: '<i8',
};

/** Reads and validates the header of a .npy file (never its data). */
export function readNpyHeader(file: string): TensorEntry {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    ioError(file, 'open', error);
  }
  try {
    const fileBytes = fstatSync(fd).size;
    const head = new Uint8Array(12);
    const got = readSync(fd, head, 0, 12, 0);
    if (got < 10 || MAGIC.some((b, i) => head[i] !== b)) {
      if (got >= 6 && MAGIC.every((b, i) => head[i] === b)) {
        fileError('FILE_TRUNCATED', { file }, `${fileBytes} bytes; too short for a .npy header`);
      }
      fileError('FILE_BAD_MAGIC', { file }, 'not a .npy file (expected the magic \\x93NUMPY)');
    }
    const major = head[6]!;
    if (major < 1 || major > 3) {
      fileError(
        'FILE_UNSUPPORTED_VERSION',
        { file },
        `.npy version ${major}.${head[7]}; expected 1.x, 2.x or 3.x`,
      );
    }
    const view = new DataView(head.buffer);
    const lenBytes = major === 1 ? 2 : 4;
    const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
    const dataStart = 8 + lenBytes + headerLength;
    if (dataStart > fileBytes) {
      fileError(
        'FILE_TRUNCATED',
        { file },
        `header declares ${headerLength} bytes but the file has only ${fileBytes} in all`,
        {
          expected: dataStart,
          actual: fileBytes,
        },
      );
    }
    const text = Buffer.alloc(headerLength);
    readSync(fd, text, 0, headerLength, 8 + lenBytes);
    const name = basename(file).replace(/\.npy$/i, '');
    return parseNpyDict(file, name, text.toString('latin1'), dataStart, fileBytes);
  } finally {
    closeSync(fd);
  }
}

function parseNpyDict(
  file: string,
  name: string,
  dict: string,
  dataStart: number,
  fileBytes: number,
): TensorEntry {
  const where = { file, tensor: name };
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(dict)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    fileError(
      'FILE_CORRUPTED',
      where,
      `header ${JSON.stringify(dict.trim())} lacks descr, fortran_order or shape`,
    );
  }
  const dtype = NPY_DTYPES[descr];
  if (dtype === undefined) {
    fileError(
      'FILE_UNSUPPORTED_TYPE',
      where,
      `descr '${descr}'; expected one of ${Object.keys(NPY_DTYPES)
        .map((d) => `'${d}'`)
        .join(', ')} (little-endian float32, float16, int32, int64)`,
      {
        expected: Object.keys(NPY_DTYPES),
        actual: descr,
      },
    );
  }
  if (fortran === 'True') {
    fileError(
      'SHAPE_MISMATCH',
      where,
      'fortran_order is True; expected C order (save with np.ascontiguousarray)',
    );
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fileError('FILE_CORRUPTED', where, `shape (${shapeText}) must be non-negative integers`);
  }
  const size = dtype === 'I64' ? 8 : dtype === 'F16' ? 2 : 4;
  const byteLength = elementCount(shape) * size;
  if (dataStart + byteLength > fileBytes) {
    fileError(
      'FILE_TRUNCATED',
      where,
      `shape (${shape.join(', ')}) of ${dtype} needs data up to byte ${dataStart + byteLength} but the file has ${fileBytes} bytes`,
      {
        expected: dataStart + byteLength,
        actual: fileBytes,
      },
    );
  }
  return { file, name, dtype, shape, offset: dataStart, byteLength };
}

/** The bytes of a version 1.0 .npy header for `dtype` and `shape` (padded to 64 bytes). */
export function npyHeaderBytes(dtype: string, shape: readonly number[]): Uint8Array {
  const descr = NPY_DESCR[dtype];
  if (descr === undefined) throw new TypeError(`no .npy descr for ${dtype}`);
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shapeText}), }`;
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64);
  dict += '\n';
  const out = new Uint8Array(10 + dict.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  return out;
}
