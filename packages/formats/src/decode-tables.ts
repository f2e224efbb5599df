import type { MetaFormat } from '@skvq/core';
import { decodeFp8E4M3, decodeFp16 } from './minifloat.js';

let fp16: Float32Array | null = null;
let fp8: Float32Array | null = null;

/**
 * 65536-entry decode table of IEEE binary16 bit patterns (256 KiB, built once on first
 * use): a fp16 window row is then one indexed load per element instead of bit twiddling.
 */
export function fp16Table(): Float32Array {
  if (fp16 === null) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = decodeFp16(h);
    fp16 = t;
  }
  return fp16;
}

/** 256-entry decode table of OCP FP8 E4M3FN bytes. */
export function fp8Table(): Float32Array {
  if (fp8 === null) {
    const t = new Float32Array(256);
    for (let b = 0; b < 256; b++) t[b] = decodeFp8E4M3(b);
    fp8 = t;
  }
  return fp8;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Decodes `n` consecutive stored metadata values (little-endian, any alignment) from
 * bytes[offset ..] into out[0 .. n). The caller has checked the bounds; this is the
 * unchecked table-driven twin of readMeta (meta.ts).
 */
export function decodeMetaRun(
  format: MetaFormat,
  bytes: Uint8Array,
  offset: number,
  n: number,
  out: Float32Array,
): void {
  if (format === 'fp16') {
    const t = fp16Table();
    for (let i = 0; i < n; i++) {
      const o = offset + 2 * i;
      out[i] = t[(bytes[o] as number) | ((bytes[o + 1] as number) << 8)] as number;
    }
  } else if (format === 'fp8e4m3') {
    const t = fp8Table();
    for (let i = 0; i < n; i++) out[i] = t[bytes[offset + i] as number] as number;
  } else {
    for (let i = 0; i < n; i++) {
      const o = offset + 4 * i;
      u32[0] =
        (bytes[o] as number) |
        ((bytes[o + 1] as number) << 8) |
        ((bytes[o + 2] as number) << 16) |
        ((bytes[o + 3] as number) << 24);
      out[i] = f32[0] as number;
    }
  }
}
