import { SkvqError, type SkvqErrorCode } from '@skvq/core';

/** Throws unless [offset, offset + length) lies inside an array of `size` elements. */
export function assertSpan(
  size: number,
  offset: number,
  length: number,
  what: string,
  where: string,
  code: SkvqErrorCode = 'INVALID_ARGUMENT',
): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + length > size) {
    throw new SkvqError(
      code,
      `${where}: ${what} has ${size} elements; ${length} are needed at offset ${offset}`,
      { details: { size, offset, length } },
    );
  }
}

/** Throws NON_FINITE_INPUT naming the first NaN or +-Infinity in x[offset, offset + length). */
export function assertFinite(x: Float32Array, offset: number, length: number, where: string) {
  for (let i = offset; i < offset + length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) {
      throw new SkvqError(
        'NON_FINITE_INPUT',
        `${where}: input element ${i} is ${v}; only finite values can be quantized`,
        { details: { index: i, value: v } },
      );
    }
  }
}
