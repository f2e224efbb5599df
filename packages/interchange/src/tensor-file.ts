import { closeSync, openSync, readSync } from 'node:fs';
import { DTYPE_BYTES, decodeFloats, type FloatDtype } from './dtypes.js';
import { fileError, ioError } from './errors.js';

/** One tensor inside a file: where its bytes are, never the bytes themselves. */
export interface TensorEntry {
  file: string;
  name: string;
  /** The file's dtype name (safetensors spelling: F32, F16, BF16, I32, I64, U8, ...). */
  dtype: string;
  shape: number[];
  /** Absolute byte offset of the first element in the file. */
  offset: number;
  byteLength: number;
}

/** Rows of a tensor: the first dimension; a row is everything after it. */
export function rowCount(entry: TensorEntry): number {
  return entry.shape.length === 0 ? 1 : entry.shape[0]!;
}

export function rowElements(entry: TensorEntry): number {
  return entry.shape.slice(1).reduce((a, b) => a * b, 1);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Open file descriptors of the files being streamed, closed together. Reads are positioned
 * (`pread`), so one descriptor per file serves every tensor in it.
 */
export class FileReaders {
  private readonly fds = new Map<string, number>();
  private buffer = new Uint8Array(0);

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      try {
        fd = openSync(file, 'r');
      } catch (error) {
        ioError(file, 'open', error);
      }
      this.fds.set(file, fd);
    }
    return fd;
  }

  /** Reads `length` bytes at `position` into a reused 8-byte aligned buffer. */
  readBytes(entry: TensorEntry, position: number, length: number): Uint8Array {
    if (this.buffer.length < length) this.buffer = new Uint8Array(Math.max(length, 1 << 16));
    const target = this.buffer.subarray(0, length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(this.fd(entry.file), target, done, length - done, position + done);
      } catch (error) {
        ioError(entry.file, `read tensor "${entry.name}"`, error);
      }
      if (n === 0) {
        fileError(
          'FILE_TRUNCATED',
          entry,
          `the file ends at byte ${position + done}; the tensor's data was declared to end at byte ${entry.offset + entry.byteLength}`,
          { expectedBytes: entry.offset + entry.byteLength, actualBytes: position + done },
        );
      }
      done += n;
    }
    return target;
  }

  /**
   * Rows [start, start + count) of a float tensor as float32 into `out`; a NaN or Inf is a
   * NON_FINITE_INPUT error naming the file, the tensor, the row and the column.
   */
  readFloatRows(entry: TensorEntry, start: number, count: number, out: Float32Array): void {
    const width = rowElements(entry);
    const size = DTYPE_BYTES[entry.dtype as FloatDtype];
    const bytes = this.readBytes(entry, entry.offset + start * width * size, count * width * size);
    const bad = decodeFloats(entry.dtype as FloatDtype, bytes, count * width, out);
    if (bad >= 0) {
      const row = start + Math.floor(bad / width);
      const col = bad % width;
      fileError(
        'NON_FINITE_INPUT',
        entry,
        `element [${row}, ${col}] is ${out[bad]}; expected finite values (calibration statistics would be meaningless)`,
        { row, column: col, value: out[bad] },
      );
    }
  }

  /** The whole of an integer tensor (positions) as Int32Array, checking the int32 range. */
  readInts(entry: TensorEntry): Int32Array {
    const n = elementCount(entry.shape);
    const bytes = this.readBytes(entry, entry.offset, entry.byteLength);
    const out = new Int32Array(n);
    if (entry.dtype === 'I32') {
      out.set(new Int32Array(bytes.buffer, bytes.byteOffset, n));
      return out;
    }
    const wide = new BigInt64Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const x = wide[i]!;
      if (x < -2147483648n || x > 2147483647n) {
        fileError(
          'SHAPE_MISMATCH',
          entry,
          `element ${i} is ${x}; expected a value in int32 range`,
          {
            index: i,
          },
        );
      }
      out[i] = Number(x);
    }
    return out;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
