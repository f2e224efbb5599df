import { listAllowed, SkvqError } from './errors.js';

/**
 * Bit widths of quantized codes. 1.5 means ternary (three levels, maxq = 2), stored five
 * trits per byte (3^5 = 243 <= 256, 1.6 bits), SKVQ.md sections 2 and 5.
 */
export type BitWidth = 8 | 4 | 3 | 2 | 1.5;
export const SUPPORTED_BITS: readonly BitWidth[] = [1.5, 2, 3, 4, 8];

/** How per-token-per-group scale and zero are stored. */
export type MetaFormat = 'fp32' | 'fp16' | 'fp8e4m3';
export const SUPPORTED_META_FORMATS: readonly MetaFormat[] = ['fp32', 'fp16', 'fp8e4m3'];

/** Bytes one stored scale or zero takes. */
export const META_BYTES: Readonly<Record<MetaFormat, number>> = {
  fp32: 4,
  fp16: 2,
  fp8e4m3: 1,
};

export function isBitWidth(value: unknown): value is BitWidth {
  return SUPPORTED_BITS.includes(value as BitWidth);
}

export function assertBitWidth(value: unknown, where: string): asserts value is BitWidth {
  if (!isBitWidth(value)) {
    throw new SkvqError(
      'UNSUPPORTED_BITS',
      `unsupported bits ${String(value)} for ${where}; expected ${listAllowed(SUPPORTED_BITS)}`,
      { details: { value, allowed: SUPPORTED_BITS } },
    );
  }
}

export function assertMetaFormat(value: unknown, where: string): asserts value is MetaFormat {
  if (!SUPPORTED_META_FORMATS.includes(value as MetaFormat)) {
    throw new SkvqError(
      'UNSUPPORTED_META_FORMAT',
      `unsupported metadata format ${String(value)} for ${where}; expected ${listAllowed(
        SUPPORTED_META_FORMATS,
      )}`,
      { details: { value, allowed: SUPPORTED_META_FORMATS } },
    );
  }
}

/** Largest code value: 2^b - 1, and 2 for ternary (SKVQ.md section 2). */
export function maxQ(bits: BitWidth): number {
  return bits === 1.5 ? 2 : 2 ** bits - 1;
}

/**
 * Bytes that `count` codes take in the packed format of `bits` (the packing contract every
 * backend reproduces; the layouts are documented in @skvq/formats):
 * 8 -> 1 per byte; 4 -> 2 per byte; 3 -> dense bit stream (8 codes in 3 bytes);
 * 2 -> 4 per byte; 1.5 -> 5 trits per byte.
 */
export function codeBytes(bits: BitWidth, count: number): number {
  switch (bits) {
    case 8:
      return count;
    case 4:
      return Math.ceil(count / 2);
    case 3:
      return Math.ceil((count * 3) / 8);
    case 2:
      return Math.ceil(count / 4);
    case 1.5:
      return Math.ceil(count / 5);
  }
}

/** Storage bits per code element, ignoring the padding at the end of a row. */
export function bitsPerCode(bits: BitWidth): number {
  return bits === 1.5 ? 8 / 5 : bits;
}
