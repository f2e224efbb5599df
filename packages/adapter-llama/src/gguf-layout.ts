import { fail } from './errors.js';
import type { GgufHeader, GgufTensorInfo } from './gguf-types.js';

/**
 * Largest tensor this runtime loads: weights are dequantized into one Float32Array, and
 * typed arrays past 2^31 - 1 elements are not portable across engines.
 */
export const MAX_TENSOR_ELEMENTS = 0x7fffffff;

/**
 * Bytes read from a file handle per call: Node's `read` takes an int32 length, so a
 * tensor of 2 GiB or more is read in pieces (one call would abort the process).
 */
export const READ_CHUNK_BYTES = 1 << 30;

/**
 * Checks every tensor against the file before any tensor byte is read or allocated:
 * each lies inside the file (FILE_TRUNCATED otherwise), no two overlap (FILE_CORRUPTED),
 * and each fits a Float32Array once dequantized (FILE_UNSUPPORTED_TYPE). With this, every
 * read position and length is below the file size, so well inside 2^53.
 */
export function checkTensorLayout(header: GgufHeader, fileSize: number, what: string): void {
  const available = fileSize - header.dataOffset;
  for (const t of header.tensors) {
    if (t.offset + t.bytes > available) {
      fail(
        'FILE_TRUNCATED',
        `${what} is truncated: tensor "${short(t.name)}" needs ${t.bytes} bytes at data offset ${t.offset}, but the data section holds ${Math.max(available, 0)} bytes`,
        { tensor: short(t.name), offset: t.offset, bytes: t.bytes, fileSize },
      );
    }
    if (t.elements > MAX_TENSOR_ELEMENTS) {
      fail(
        'FILE_UNSUPPORTED_TYPE',
        `${what}: tensor "${short(t.name)}" holds ${t.elements} values; this runtime loads tensors of up to ${MAX_TENSOR_ELEMENTS} values`,
        { tensor: short(t.name), elements: t.elements, max: MAX_TENSOR_ELEMENTS },
      );
    }
  }
  const sorted: GgufTensorInfo[] = header.tensors
    .filter((t) => t.bytes > 0)
    .sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as GgufTensorInfo;
    const cur = sorted[i] as GgufTensorInfo;
    if (cur.offset < prev.offset + prev.bytes) {
      fail(
        'FILE_CORRUPTED',
        `${what}: tensors "${short(prev.name)}" and "${short(cur.name)}" overlap (data offsets ${prev.offset}+${prev.bytes} and ${cur.offset})`,
        { tensors: [short(prev.name), short(cur.name)] },
      );
    }
  }
}

function short(name: string): string {
  return name.length > 80 ? `${name.slice(0, 80)}...` : name;
}

/** Reads `length` bytes at `position` through `readInto`, at most READ_CHUNK_BYTES per call. */
export async function readChunked(
  readInto: (
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ) => Promise<number>,
  position: number,
  length: number,
  chunkBytes = READ_CHUNK_BYTES,
): Promise<{ bytes: Uint8Array; bytesRead: number }> {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const step = Math.min(chunkBytes, length - done);
    const got = await readInto(bytes, done, step, position + done);
    if (got <= 0) break;
    done += got;
  }
  return { bytes, bytesRead: done };
}
