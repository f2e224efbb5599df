import type { BitWidth } from '@skvq/core';

/**
 * WGSL of the packed code formats (bits.ts in @skvq/core, pack.ts in
 * @skvq/formats). Pages are byte arrays; WGSL storage is u32 words, so bytes
 * are addressed as (word >> 8 * (byte & 3)) & 0xff, little-endian like the host.
 * 8/4/3/2 bits: code j occupies bits [j*b, j*b + b) of the row (a dense little-endian bit
 * stream; for 8/4/2 no code crosses a byte). Ternary: byte j/5 holds code j as the digit
 * of weight 3^(j%5).
 */

/** `fn readByte_POOL(off: u32) -> u32` over the storage array `pool`. */
export function readByteWgsl(pool: string): string {
  return /* wgsl */ `
fn readByte_${pool}(off: u32) -> u32 {
  return (${pool}[off >> 2u] >> ((off & 3u) * 8u)) & 0xffu;
}`;
}

/**
 * `fn readCode_POOL(rowStart: u32, j: u32, bits: u32) -> u32`: code j of the row whose
 * first byte is rowStart; `bits` is 8, 4, 3, 2, or 15 for ternary (1.5).
 */
export function readCodeWgsl(pool: string): string {
  return /* wgsl */ `
fn readCode_${pool}(rowStart: u32, j: u32, bits: u32) -> u32 {
  if (bits == 15u) {
    var byte = readByte_${pool}(rowStart + j / 5u);
    let k = j % 5u;
    var div = 1u;
    for (var i = 0u; i < k; i++) { div = div * 3u; }
    return (byte / div) % 3u;
  }
  let bit = j * bits;
  let off = rowStart + (bit >> 3u);
  let shift = bit & 7u;
  var v = readByte_${pool}(off) >> shift;
  if (shift + bits > 8u) { v = v | (readByte_${pool}(off + 1u) << (8u - shift)); }
  return v & ((1u << bits) - 1u);
}`;
}

/** The `bits` argument readCode expects for a bit width. */
export function bitsCode(bits: BitWidth): number {
  return bits === 1.5 ? 15 : bits;
}

/**
 * `fn packWord(w: u32) -> u32`: packed word w (bytes 4w..4w+3) of one row of `n` codes,
 * given `fn codeAt(j: u32) -> u32` in scope (codes past n count as 0, so a row's padding
 * bits are zero exactly as packCodes writes them).
 */
export function packWordWgsl(bits: BitWidth): string {
  if (bits === 1.5) {
    return /* wgsl */ `
fn packWord(w: u32, n: u32) -> u32 {
  var word = 0u;
  for (var b = 0u; b < 4u; b++) {
    var byte = 0u;
    var weight = 1u;
    for (var k = 0u; k < 5u; k++) {
      let j = (4u * w + b) * 5u + k;
      if (j < n) { byte = byte + codeAt(j) * weight; }
      weight = weight * 3u;
    }
    word = word | (byte << (8u * b));
  }
  return word;
}`;
  }
  return /* wgsl */ `
fn packWord(w: u32, n: u32) -> u32 {
  let first = (32u * w) / ${bits}u;
  let last = (32u * w + 31u) / ${bits}u;
  var word = 0u;
  for (var j = first; j <= last; j++) {
    if (j >= n) { break; }
    let bit = j * ${bits}u;
    let c = codeAt(j);
    if (bit >= 32u * w) {
      let s = bit - 32u * w;
      word = word | (c << s);
    } else {
      word = word | (c >> (32u * w - bit));
    }
  }
  return word;
}`;
}
