import type { MetaFormat } from '@skvq/core';

/**
 * WGSL of the metadata formats, exact in integer arithmetic so the GPU stores the same
 * bytes as @skvq/formats (minifloat.ts, meta.ts): a value is encoded from its
 * float32 bits with directed rounding of the magnitude (zero toward -Inf, scale toward
 * +Inf), and decoded by building float32 bits. Parameters per format:
 * fp16 = IEEE binary16 (10 mantissa bits, min normal exponent -14, max code 0x7bff);
 * fp8e4m3 = OCP E4M3FN (3 mantissa bits, min normal exponent -6, max code 0x7e).
 */
interface Spec {
  mantissaBits: number;
  minNormalExp: number;
  maxFiniteCode: number;
  signBit: number;
}
const SPECS: Record<'fp16' | 'fp8e4m3', Spec> = {
  fp16: { mantissaBits: 10, minNormalExp: -14, maxFiniteCode: 0x7bff, signBit: 0x8000 },
  fp8e4m3: { mantissaBits: 3, minNormalExp: -6, maxFiniteCode: 0x7e, signBit: 0x80 },
};

/** Marks an encoding that fell outside the format (the reference throws there). */
export const ENCODE_OVERFLOW = 0xffffffff;

/** `fn dec_NAME(bits: u32) -> f32`: exact decode of a stored minifloat. */
export function minifloatDecodeWgsl(name: string, format: 'fp16' | 'fp8e4m3'): string {
  const s = SPECS[format];
  const m = s.mantissaBits;
  // 2^(minNormalExp - m): the subnormal step, an exact normal float32 for both formats.
  const step = 2 ** (s.minNormalExp - m);
  return /* wgsl */ `
fn dec_${name}(bits: u32) -> f32 {
  let code = bits & ${s.signBit - 1}u;
  let ef = code >> ${m}u;
  let mant = code & ${2 ** m - 1}u;
  var v: f32;
  if (ef == 0u) {
    v = f32(mant) * ${f32Literal(step)};
  } else {
    v = bitcast<f32>((u32(i32(ef) + ${s.minNormalExp - 1 + 127}) << 23u) | (mant << ${23 - m}u));
  }
  if ((bits & ${s.signBit}u) != 0u) { v = -v; }
  return v;
}`;
}

/**
 * `fn enc_NAME(v: f32, ceil: bool) -> u32`: the stored bits of v rounded toward +Inf (ceil)
 * or -Inf, or ENCODE_OVERFLOW when the result is beyond the largest finite value.
 */
export function minifloatEncodeWgsl(name: string, format: 'fp16' | 'fp8e4m3'): string {
  const s = SPECS[format];
  const m = s.mantissaBits;
  return /* wgsl */ `
fn enc_${name}(v: f32, toCeil: bool) -> u32 {
  let b = bitcast<u32>(v);
  let neg = (b >> 31u) == 1u;
  let E = (b >> 23u) & 0xffu;
  let man = b & 0x7fffffu;
  var sign = 0u;
  if (neg) { sign = ${s.signBit}u; }
  if (E == 255u) { return ${ENCODE_OVERFLOW}u; }
  if (E == 0u && man == 0u) { return sign; }
  // Magnitude rounds up for ceil of a positive or floor of a negative value.
  let up = toCeil != neg;
  var e: i32 = -126;
  var sig: u32 = man;
  if (E != 0u) { e = i32(E) - 127; sig = man | 0x800000u; }
  let ep = max(e, ${s.minNormalExp});
  // The magnitude is sig * 2^(e - 23); in units of the binade's step 2^(ep - m) it is
  // sig >> shift with a remainder; shift >= 23 - m > 0.
  let shift = u32(${23 - m} + ep - e);
  var r: u32 = 0u;
  var rem = true;
  if (shift < 32u) {
    r = sig >> shift;
    rem = (sig & ((1u << shift) - 1u)) != 0u;
  }
  if (up && rem) { r = r + 1u; }
  let code = u32(ep - ${s.minNormalExp}) * ${2 ** m}u + r;
  if (code > ${s.maxFiniteCode}u) { return ${ENCODE_OVERFLOW}u; }
  return sign | code;
}`;
}

/**
 * WGSL for one metadata format: `fn metaEnc(v, ceil) -> u32` (stored bits or overflow) and
 * `fn metaDec(bits) -> f32`. fp32 stores the float32 itself (the reference's directed
 * rounding is the identity on a float32), rejecting only non-finite values.
 */
export function metaCodecWgsl(format: MetaFormat): string {
  if (format === 'fp32') {
    return /* wgsl */ `
fn metaEnc(v: f32, toCeil: bool) -> u32 {
  let b = bitcast<u32>(v);
  if (((b >> 23u) & 0xffu) == 255u) { return ${ENCODE_OVERFLOW}u; }
  return b;
}
fn metaDec(bits: u32) -> f32 { return bitcast<f32>(bits); }`;
  }
  return `${minifloatEncodeWgsl('meta', format)}
${minifloatDecodeWgsl('meta', format)}
fn metaEnc(v: f32, toCeil: bool) -> u32 { return enc_meta(v, toCeil); }
fn metaDec(bits: u32) -> f32 { return dec_meta(bits); }`;
}

/** A float32 constant by its bits, so the shader compiler sees exactly this value. */
export function f32Literal(value: number): string {
  const f = new Float32Array([value]);
  const bits = new Uint32Array(f.buffer)[0] as number;
  return `bitcast<f32>(${bits}u)`;
}
