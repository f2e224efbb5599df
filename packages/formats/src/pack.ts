import { assertBitWidth, type BitWidth, codeBytes, maxQ, SkvqError } from '@skvq/core';

/** Largest valid ternary byte: 2 * (1 + 3 + 9 + 27 + 81) = 242 (3^5 - 1). */
const MAX_TRIT_BYTE = 242;
/** Place values of the five trits of a ternary byte (formats.ts, FORMAT_1_5). */
const TRIT_WEIGHTS = [1, 3, 9, 27, 81] as const;

function checkCount(count: number, where: string): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${count} must be a non-negative integer`,
      {
        details: { count },
      },
    );
  }
}

/**
 * Packs `codes` (each in [0, maxQ(bits)]) into exactly codeBytes(bits, codes.length) bytes
 * of `out` starting at `outOffset`. The bytes are overwritten, never OR-ed into what was
 * there, so a reused page needs no clearing. Layouts: see formats.ts.
 */
export function packCodes(bits: BitWidth, codes: Uint8Array, out: Uint8Array, outOffset = 0): void {
  assertBitWidth(bits, 'packCodes');
  const n = codes.length;
  const bytes = codeBytes(bits, n);
  if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset + bytes > out.length) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `packCodes: output of ${out.length} bytes cannot hold ${bytes} bytes (${n} codes of ${bits} bits) at offset ${outOffset}`,
      { details: { outLength: out.length, needed: bytes, outOffset } },
    );
  }
  const maxq = maxQ(bits);
  for (let i = 0; i < n; i++) {
    if (codes[i]! > maxq) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `packCodes: code ${codes[i]} at index ${i} is out of range for ${bits} bits; expected 0..${maxq}`,
        { details: { index: i, value: codes[i], maxq } },
      );
    }
  }
  switch (bits) {
    case 8:
      out.set(codes, outOffset);
      return;
    case 4:
      for (let b = 0; b < bytes; b++) {
        const i = 2 * b;
        out[outOffset + b] = codes[i]! | ((i + 1 < n ? codes[i + 1]! : 0) << 4);
      }
      return;
    case 2:
      for (let b = 0; b < bytes; b++) {
        let byte = 0;
        for (let j = 0; j < 4; j++) {
          const i = 4 * b + j;
          if (i < n) byte |= codes[i]! << (2 * j);
        }
        out[outOffset + b] = byte;
      }
      return;
    case 3:
      out.fill(0, outOffset, outOffset + bytes);
      for (let i = 0; i < n; i++) {
        const bit = 3 * i;
        const byte = outOffset + (bit >> 3);
        const shift = bit & 7;
        const v = codes[i]! << shift; // up to 10 bits: spills into the next byte when shift > 5
        out[byte] = out[byte]! | (v & 0xff);
        if (shift > 5) out[byte + 1] = out[byte + 1]! | (v >> 8);
      }
      return;
    case 1.5:
      for (let b = 0; b < bytes; b++) {
        let byte = 0;
        for (let j = 0; j < 5; j++) {
          const i = 5 * b + j;
          if (i < n) byte += codes[i]! * TRIT_WEIGHTS[j]!;
        }
        out[outOffset + b] = byte;
      }
      return;
  }
}

/**
 * Unpacks `count` codes of the format of `bits` from `packed` (starting at byte `offset`)
 * into out[0 .. count). Throws INVALID_ARGUMENT for a too-short input or output, and for a
 * ternary byte above 242 (not a valid five-trit byte).
 */
export function unpackCodes(
  bits: BitWidth,
  packed: Uint8Array,
  offset: number,
  count: number,
  out: Uint8Array,
): void {
  assertBitWidth(bits, 'unpackCodes');
  checkCount(count, 'unpackCodes');
  const bytes = codeBytes(bits, count);
  if (!Number.isInteger(offset) || offset < 0 || offset + bytes > packed.length) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `unpackCodes: input of ${packed.length} bytes does not hold ${bytes} bytes (${count} codes of ${bits} bits) at offset ${offset}`,
      { details: { packedLength: packed.length, needed: bytes, offset } },
    );
  }
  if (out.length < count) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `unpackCodes: output of ${out.length} codes cannot hold ${count} codes`,
      { details: { outLength: out.length, count } },
    );
  }
  switch (bits) {
    case 8:
      out.set(packed.subarray(offset, offset + count));
      return;
    case 4:
      for (let i = 0; i < count; i++) {
        out[i] = (packed[offset + (i >> 1)]! >> (4 * (i & 1))) & 0xf;
      }
      return;
    case 2:
      for (let i = 0; i < count; i++) {
        out[i] = (packed[offset + (i >> 2)]! >> (2 * (i & 3))) & 0x3;
      }
      return;
    case 3:
      for (let i = 0; i < count; i++) {
        const bit = 3 * i;
        const byte = offset + (bit >> 3);
        const shift = bit & 7;
        const lo = packed[byte]! >> shift;
        const hi = shift > 5 ? packed[byte + 1]! << (8 - shift) : 0;
        out[i] = (lo | hi) & 0x7;
      }
      return;
    case 1.5:
      for (let b = 0; b < bytes; b++) {
        let byte = packed[offset + b]!;
        if (byte > MAX_TRIT_BYTE) {
          throw new SkvqError(
            'INVALID_ARGUMENT',
            `unpackCodes: ternary byte ${byte} at offset ${offset + b} is invalid; expected 0..${MAX_TRIT_BYTE}`,
            { details: { byte, at: offset + b } },
          );
        }
        for (let j = 0; j < 5; j++) {
          const i = 5 * b + j;
          if (i >= count) break;
          out[i] = byte % 3;
          byte = (byte - (byte % 3)) / 3;
        }
      }
      return;
  }
}
