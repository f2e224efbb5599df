import { readByteWgsl, readCodeWgsl } from './codes.js';
import { minifloatDecodeWgsl } from './minifloat.js';

/**
 * WGSL that reads one element of a cached stream straight from its stored form (fp32,
 * fp16, or packed codes + metadata), so attention never materialises a dequantized cache.
 *
 * The host lays every segment of a stream into one byte pool and describes each segment
 * with SEGMENT_STRIDE words in `tables` (segments.ts):
 *   0 kind (SEGMENT_KIND), 1 data byte offset, 2 meta byte offset, 3 code bytes per row,
 *   4 meta bytes per unit, 5 aux offset in `tables` (token-group: invPerm[C] | groupOf[C]),
 *   6 bits code (8, 4, 3, 2; 15 = ternary), 7 meta format (META_FORMAT_CODE),
 *   8 tokens per block (channel-block).
 * Reconstruction is the reference's x_hat = f32(f32(q * scale) + zero).
 */
export const SEGMENT_STRIDE = 10;
export const SEGMENT_KIND = { fp32: 0, fp16: 1, tokenGroup: 2, channelBlock: 3 } as const;
export const META_FORMAT_CODE = { fp32: 0, fp16: 1, fp8e4m3: 2 } as const;

/** Decoders shared by every reader: `dec_h` (fp16) and `dec_e` (fp8 E4M3FN). */
export function readerCommonWgsl(): string {
  return `struct Row { kind: u32, base: u32, metaRow: u32, aux: u32, bits: u32, fmt: u32, size: u32 }
${minifloatDecodeWgsl('h', 'fp16')}
${minifloatDecodeWgsl('e', 'fp8e4m3')}`;
}

/**
 * For the storage array `pool` (C channels per token):
 * `fn row_POOL(seg, row) -> Row`: everything about one stored row that does not depend on
 * the channel (hoisted out of the per-element loops);
 * `fn elem_POOL(r: Row, ch) -> f32`: element `ch` (original channel order) of that row;
 * `fn load_POOL(seg, row, ch) -> f32`: both at once.
 */
export function segmentReaderWgsl(pool: string, channels: number): string {
  const C = channels;
  return /* wgsl */ `${readByteWgsl(pool)}
${readCodeWgsl(pool)}
fn readU16_${pool}(off: u32) -> u32 {
  return (${pool}[off >> 2u] >> ((off & 2u) * 8u)) & 0xffffu;
}
fn readMeta_${pool}(off: u32, fmt: u32) -> f32 {
  if (fmt == 0u) { return bitcast<f32>(${pool}[off >> 2u]); }
  if (fmt == 1u) { return dec_h(readU16_${pool}(off)); }
  return dec_e(readByte_${pool}(off));
}
fn row_${pool}(seg: u32, row: u32) -> Row {
  var r: Row;
  r.kind = tables[seg];
  let data = tables[seg + 1u];
  if (r.kind == ${SEGMENT_KIND.fp32}u) { r.base = (data >> 2u) + row * ${C}u; return r; }
  if (r.kind == ${SEGMENT_KIND.fp16}u) { r.base = data + row * ${C * 2}u; return r; }
  r.fmt = tables[seg + 7u];
  r.size = 1u;
  if (r.fmt == 0u) { r.size = 4u; } else if (r.fmt == 1u) { r.size = 2u; }
  r.bits = tables[seg + 6u];
  r.aux = tables[seg + 5u];
  r.base = data + row * tables[seg + 3u];
  if (r.kind == ${SEGMENT_KIND.tokenGroup}u) {
    r.metaRow = tables[seg + 2u] + row * tables[seg + 4u];
  } else {
    r.metaRow = tables[seg + 2u] + (row / tables[seg + 8u]) * tables[seg + 4u];
  }
  return r;
}
fn elem_${pool}(r: Row, ch: u32) -> f32 {
  if (r.kind == ${SEGMENT_KIND.fp32}u) { return bitcast<f32>(${pool}[r.base + ch]); }
  if (r.kind == ${SEGMENT_KIND.fp16}u) { return dec_h(readU16_${pool}(r.base + ch * 2u)); }
  var j = ch;
  var m: u32;
  if (r.kind == ${SEGMENT_KIND.tokenGroup}u) {
    j = tables[r.aux + ch];
    m = r.metaRow + 2u * tables[r.aux + ${C}u + j] * r.size;
  } else {
    m = r.metaRow + 2u * ch * r.size;
  }
  let q = readCode_${pool}(r.base, j, r.bits);
  let scale = readMeta_${pool}(m, r.fmt);
  let zero = readMeta_${pool}(m + r.size, r.fmt);
  return f32(q) * scale + zero;
}
fn load_${pool}(seg: u32, row: u32, ch: u32) -> f32 {
  return elem_${pool}(row_${pool}(seg, row), ch);
}`;
}
