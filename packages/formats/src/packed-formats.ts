import { assertBitWidth, type BitWidth } from '@skvq/core';

/**
 * A packed code format: how the codes of one token (one row, in the layout's channel order)
 * are laid out in bytes. Every backend reproduces these layouts byte for byte; the byte
 * count of a row is `codeBytes(bits, n)` from @skvq/core (`ceil(n / valuesPerUnit) *
 * bytesPerUnit`, except 3-bit rows, which end at the last byte the bit stream touches).
 */
export interface PackedFormat {
  bits: BitWidth;
  /** Codes in one repeating unit of the layout. */
  valuesPerUnit: number;
  /** Bytes of one repeating unit. */
  bytesPerUnit: number;
  /** Storage bits per code ignoring row padding: 8 * bytesPerUnit / valuesPerUnit. */
  bitsPerElement: number;
  description: string;
}

/**
 * 8-bit: one code per byte.
 * ```
 * byte i: [ q_i (bits 7..0) ]
 * ```
 * n codes -> n bytes; 8 bits per element; codes 0..255.
 */
const FORMAT_8: PackedFormat = {
  bits: 8,
  valuesPerUnit: 1,
  bytesPerUnit: 1,
  bitsPerElement: 8,
  description: 'one code per byte: byte i = q_i',
};

/**
 * 4-bit: two codes per byte, the even element in the low nibble.
 * ```
 * byte i: [ q_{2i+1} (bits 7..4) | q_{2i} (bits 3..0) ]
 * ```
 * byte i = q_{2i} | q_{2i+1} << 4; n codes -> ceil(n / 2) bytes (an odd row leaves the last
 * high nibble 0); 4 bits per element; codes 0..15.
 */
const FORMAT_4: PackedFormat = {
  bits: 4,
  valuesPerUnit: 2,
  bytesPerUnit: 1,
  bitsPerElement: 4,
  description: 'two codes per byte: byte i = q_2i | q_(2i+1) << 4',
};

/**
 * 3-bit: a dense little-endian bit stream over the whole row; element i occupies row bits
 * [3i, 3i + 3), bit k of the row being bit (k mod 8) of byte floor(k / 8).
 * ```
 * byte 0: [ q2(1..0) | q1(2..0) | q0(2..0) ]   bits 7..6 | 5..3 | 2..0
 * byte 1: [ q5(0) | q4(2..0) | q3(2..0) | q2(2) ]
 * byte 2: [ q7(2..0) | q6(2..0) | q5(2..1) ]
 * ```
 * 8 codes in 3 bytes; n codes -> ceil(3n / 8) bytes (unused trailing bits are 0);
 * 3 bits per element; codes 0..7.
 */
const FORMAT_3: PackedFormat = {
  bits: 3,
  valuesPerUnit: 8,
  bytesPerUnit: 3,
  bitsPerElement: 3,
  description: 'dense little-endian bit stream: element i occupies row bits [3i, 3i+3)',
};

/**
 * 2-bit: four codes per byte, element 4i + j in bits [2j, 2j + 2).
 * ```
 * byte i: [ q_{4i+3} (7..6) | q_{4i+2} (5..4) | q_{4i+1} (3..2) | q_{4i} (1..0) ]
 * ```
 * n codes -> ceil(n / 4) bytes (missing trailing codes are 0); 2 bits per element; codes 0..3.
 */
const FORMAT_2: PackedFormat = {
  bits: 2,
  valuesPerUnit: 4,
  bytesPerUnit: 1,
  bitsPerElement: 2,
  description: 'four codes per byte: element 4i+j in bits [2j, 2j+2) of byte i',
};

/**
 * 1.5-bit (ternary, maxq = 2, SKVQ.md sections 2 and 5): five trits per byte in base 3.
 * ```
 * byte i = t_{5i} + 3 t_{5i+1} + 9 t_{5i+2} + 27 t_{5i+3} + 81 t_{5i+4}   (0..242)
 * ```
 * 3^5 = 243 <= 256, so 8 / 5 = 1.6 bits per element (the official SKVQ kernel spends 2).
 * n codes -> ceil(n / 5) bytes; a partial last byte uses only its leading trits (the
 * missing ones are 0). Bytes 243..255 are invalid.
 */
const FORMAT_1_5: PackedFormat = {
  bits: 1.5,
  valuesPerUnit: 5,
  bytesPerUnit: 1,
  bitsPerElement: 8 / 5,
  description: 'five trits per byte: byte = t0 + 3 t1 + 9 t2 + 27 t3 + 81 t4',
};

/** Every packed format, keyed by String(bits): '8', '4', '3', '2', '1.5'. */
export const PACKED_FORMATS: Readonly<Record<string, PackedFormat>> = Object.freeze({
  '8': FORMAT_8,
  '4': FORMAT_4,
  '3': FORMAT_3,
  '2': FORMAT_2,
  '1.5': FORMAT_1_5,
});

/** The packed format of a bit width; throws UNSUPPORTED_BITS for anything else. */
export function formatOf(bits: BitWidth): PackedFormat {
  assertBitWidth(bits, 'packed code format');
  return PACKED_FORMATS[String(bits)]!;
}
