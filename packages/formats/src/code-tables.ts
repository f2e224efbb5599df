import { type BitWidth, SkvqError } from '@skvq/core';

/**
 * Fast decoding of packed code rows (packed-formats.ts, pack.ts):
 * byte-aligned formats (8, 4, 2, 1.5 bits) use a 256-entry table per bit width mapping a
 * byte to the codes it holds; the 3-bit stream is decoded 8 codes (3 bytes) at a time.
 */

/** Codes held by one byte per format (3 bits has no byte-aligned table). */
const CODES_PER_BYTE: Readonly<Record<2 | 4 | 1.5, number>> = { 4: 2, 2: 4, 1.5: 5 };
/** Largest valid ternary byte: 3^5 - 1. */
const MAX_TRIT_BYTE = 242;

const tables = new Map<BitWidth, Uint8Array>();

/** byte -> its codes, laid out [256, codesPerByte]; ternary bytes above 242 are marked 255. */
export function byteDecodeTable(bits: 2 | 4 | 1.5): Uint8Array {
  const cached = tables.get(bits);
  if (cached) return cached;
  const per = CODES_PER_BYTE[bits];
  const t = new Uint8Array(256 * per);
  for (let b = 0; b < 256; b++) {
    for (let j = 0; j < per; j++) {
      if (bits === 1.5) t[b * per + j] = b > MAX_TRIT_BYTE ? 255 : Math.floor(b / 3 ** j) % 3;
      else if (bits === 4) t[b * per + j] = (b >> (4 * j)) & 0xf;
      else t[b * per + j] = (b >> (2 * j)) & 0x3;
    }
  }
  tables.set(bits, t);
  return t;
}

function badTrit(byte: number, at: number): never {
  throw new SkvqError(
    'INVALID_ARGUMENT',
    `packed ternary byte ${byte} at offset ${at} is invalid; expected 0..${MAX_TRIT_BYTE}`,
    { details: { byte, at } },
  );
}

/**
 * Decodes `count` codes of one packed row starting at byte `offset` into out[0 .. count).
 * The caller has checked that the row lies inside `packed`.
 */
export function decodeRow(
  bits: BitWidth,
  packed: Uint8Array,
  offset: number,
  count: number,
  out: Uint8Array,
): void {
  if (bits === 8) {
    for (let i = 0; i < count; i++) out[i] = packed[offset + i] as number;
    return;
  }
  if (bits === 3) {
    let i = 0;
    let o = offset;
    for (; i + 8 <= count; i += 8, o += 3) {
      const w =
        (packed[o] as number) |
        ((packed[o + 1] as number) << 8) |
        ((packed[o + 2] as number) << 16);
      out[i] = w & 7;
      out[i + 1] = (w >> 3) & 7;
      out[i + 2] = (w >> 6) & 7;
      out[i + 3] = (w >> 9) & 7;
      out[i + 4] = (w >> 12) & 7;
      out[i + 5] = (w >> 15) & 7;
      out[i + 6] = (w >> 18) & 7;
      out[i + 7] = (w >> 21) & 7;
    }
    for (; i < count; i++) {
      const bit = 3 * i;
      const byte = offset + (bit >> 3);
      const shift = bit & 7;
      const lo = (packed[byte] as number) >> shift;
      const hi = shift > 5 ? (packed[byte + 1] as number) << (8 - shift) : 0;
      out[i] = (lo | hi) & 7;
    }
    return;
  }
  const per = CODES_PER_BYTE[bits];
  const table = byteDecodeTable(bits);
  const full = Math.floor(count / per);
  let i = 0;
  for (let b = 0; b < full; b++) {
    const byte = packed[offset + b] as number;
    const base = byte * per;
    if (bits === 1.5 && byte > MAX_TRIT_BYTE) badTrit(byte, offset + b);
    for (let j = 0; j < per; j++) out[i++] = table[base + j] as number;
  }
  if (i < count) {
    const byte = packed[offset + full] as number;
    if (bits === 1.5 && byte > MAX_TRIT_BYTE) badTrit(byte, offset + full);
    const base = byte * per;
    for (let j = 0; i < count; j++) out[i++] = table[base + j] as number;
  }
}
