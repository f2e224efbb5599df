import type { MetaFormat } from '@skvq/core';

/**
 * gpu.js-subset JavaScript that reads bytes, 16-bit words and float32 values out of a store
 * buffer's texture. A store buffer holds its bytes as 16-bit words, one float per word:
 * word w = byte 2w + 256 * byte 2w+1 (exact in float32), so every read below is float
 * arithmetic on exact integers (GLSL ES 1.00 has no bit operations, and float textures are
 * the only ones gpu.js keeps on the device). Divisions are by powers of two (exact) and
 * every floor is of a value at least 0.5 / 256 from an integer.
 *
 * Each helper declares variables named after `out`, so one kernel may use it many times.
 */

/** Byte `at` (a byte offset, any alignment) of texture `tex` into a new variable `out`. */
export function byteAtJs(tex: string, at: string, out: string): string {
  return `
    const ${out}I = Math.floor((${at} + 0.5) / 2);
    const ${out}W = ${tex}[${out}I];
    const ${out}H = Math.floor((${out}W + 0.5) / 256);
    let ${out} = ${out}W - 256 * ${out}H;
    if (${at} - 2 * ${out}I > 0.5) {
      ${out} = ${out}H;
    }`;
}

/** The little-endian 16-bit value at byte `at` (one fetch when `at` is even, else two). */
export function u16AtJs(tex: string, at: string, out: string): string {
  return `
    const ${out}I = Math.floor((${at} + 0.5) / 2);
    let ${out} = ${tex}[${out}I];
    if (${at} - 2 * ${out}I > 0.5) {
      const ${out}Hi = Math.floor((${out} + 0.5) / 256);
      const ${out}Nx = ${tex}[${out}I + 1];
      ${out} = ${out}Hi + 256 * (${out}Nx - 256 * Math.floor((${out}Nx + 0.5) / 256));
    }`;
}

/** Offset in the decode table (storeDecodeTable) of the fp8 E4M3 entries. */
export const DEC_FP8 = 65536;
/** Offset of the powers of two 2^(e - 127), e = 0 .. 255. */
export const DEC_POW2 = 65536 + 256;

/**
 * The float32 at byte `at` into `out`, rebuilt from its bits: sign, exponent and 23-bit
 * mantissa are exact integers; (1 + m * 2^-23) is exact in float32 and so is its product
 * with 2^(e-127) from the decode table. Subnormals (e = 0) are m * 2^-23 * 2^-126, which a
 * GPU that flushes subnormals reads as zero.
 */
export function f32AtJs(tex: string, at: string, out: string): string {
  return `
    ${u16AtJs(tex, at, `${out}L`)}
    ${u16AtJs(tex, `${at} + 2`, `${out}U`)}
    let ${out}S = 1;
    let ${out}Hb = ${out}U;
    if (${out}U > 32767.5) {
      ${out}S = -1;
      ${out}Hb = ${out}U - 32768;
    }
    const ${out}E = Math.floor((${out}Hb + 0.5) / 128);
    const ${out}M = (${out}Hb - 128 * ${out}E) * 65536 + ${out}L;
    let ${out} = 0;
    if (${out}E < 0.5) {
      ${out} = ${out}S * (${out}M * 1.1920928955078125e-7) * 1.1754943508222875e-38;
    } else {
      ${out} = ${out}S * (1 + ${out}M * 1.1920928955078125e-7) * dec[${DEC_POW2} + ${out}E];
    }`;
}

/** What a kernel variant reads from one stream: fp rows, or packed rows with their metadata format. */
export type SideVariant = 'fp32' | 'fp16' | 'packed-fp32' | 'packed-fp16' | 'packed-fp8e4m3';

/** A stored scale or zero at byte `at` of `tex`, in metadata format `mf` (fixed per kernel). */
export function metaAtJs(tex: string, mf: MetaFormat, at: string, out: string): string {
  if (mf === 'fp32') {
    return `
    ${f32AtJs(tex, at, out)}`;
  }
  if (mf === 'fp16') {
    return `
    ${u16AtJs(tex, at, `${out}H`)}
    const ${out} = dec[${out}H];`;
  }
  return `
    ${byteAtJs(tex, at, `${out}B`)}
    const ${out} = dec[${DEC_FP8} + ${out}B];`;
}

/** Names of one stream's kernel arguments (textures, then scalars) for storeReadJs. */
export function sideArgs(s: string): string[] {
  return [
    `${s}Data`,
    `${s}Meta`,
    `${s}Tab`,
    `${s}Kind`,
    `${s}Off`,
    `${s}RowBytes`,
    `${s}MOff`,
    `${s}Row0`,
    `${s}PerUnit`,
    `${s}UnitBytes`,
    `${s}MF`,
    `${s}MSize`,
  ];
}

/**
 * Channel `ch` of pass row `i` of stream `s` into `out` (see sideArgs and segments.ts).
 * The variant is fixed per compiled kernel (small shaders compile fast): fp32 or fp16 rows
 * (fp16 decoded by table), or packed rows whose code base is `${s}Kind`: the channel's
 * (byte, divisor, pair) come from the layout table, the code is floor(pair / divisor) mod
 * base of the byte (and the next one for 3-bit codes, which straddle bytes), and scale/zero
 * are decoded from the stored metadata: the reference's f32(f32(code * scale) + zero).
 */
export function storeReadJs(
  s: string,
  i: string,
  ch: string,
  out: string,
  variant: SideVariant,
  table?: string,
): string {
  if (variant === 'fp32') {
    return `
    ${f32AtJs(`${s}Data`, `${s}Off + (${i}) * ${s}RowBytes + 4 * (${ch})`, out)}`;
  }
  if (variant === 'fp16') {
    return `
    ${u16AtJs(`${s}Data`, `${s}Off + (${i}) * ${s}RowBytes + 2 * (${ch})`, `${out}H`)}
    const ${out} = dec[${out}H];`;
  }
  const mf = variant.slice('packed-'.length) as MetaFormat;
  // The channel's layout-table entry, or the variables tableEntryJs declared before a loop.
  const t = table ?? `${out}E`;
  return `
    ${table === undefined ? tableEntryJs(s, ch, t) : ''}
    const ${out}A = ${s}Off + (${i}) * ${s}RowBytes + ${t}By;
    ${byteAtJs(`${s}Data`, `${out}A`, `${out}Lo`)}
    let ${out}P = ${out}Lo;
    if (${s}Kind > 7.5 && ${s}Kind < 8.5) {
      ${byteAtJs(`${s}Data`, `${out}A + 1`, `${out}Nx`)}
      ${out}P = ${out}Lo + 256 * ${out}Nx;
    }
    const ${out}Q = Math.floor((${out}P + 0.5) / ${t}Dv);
    const ${out}C = ${out}Q - ${s}Kind * Math.floor((${out}Q + 0.5) / ${s}Kind);
    const ${out}U = Math.floor((${s}Row0 + (${i}) + 0.5) / ${s}PerUnit);
    const ${out}M = ${s}MOff + ${out}U * ${s}UnitBytes + 2 * ${t}Pr * ${s}MSize;
    ${metaAtJs(`${s}Meta`, mf, `${out}M`, `${out}Sc`)}
    ${metaAtJs(`${s}Meta`, mf, `${out}M + ${s}MSize`, `${out}Ze`)}
    const ${out} = Math.fround(Math.fround(${out}C * ${out}Sc) + ${out}Ze);`;
}

/**
 * Declares `${t}By`, `${t}Dv`, `${t}Pr`: channel `ch`'s (byte, divisor, pair) from stream
 * `s`'s layout table. A kernel whose channel is fixed per thread declares them once before
 * its loop over rows (one layout per pass) and saves three fetches per value.
 */
export function tableEntryJs(s: string, ch: string, t: string): string {
  return `
    const ${t}By = ${s}Tab[(${ch}) * 3];
    const ${t}Dv = ${s}Tab[(${ch}) * 3 + 1];
    const ${t}Pr = ${s}Tab[(${ch}) * 3 + 2];`;
}
