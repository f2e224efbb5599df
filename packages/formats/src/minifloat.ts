/**
 * Small IEEE-style binary floats used for stored scales and zeros: fp16 (IEEE 754
 * binary16) and fp8 E4M3FN (OCP 8-bit floating point spec, 2023). One generic codec over
 * the "magnitude code" (exponent field << mantissa bits | mantissa), which is monotone in
 * the value, so rounding modes are just floor / ceil / half-even on a scaled magnitude.
 */

export interface MinifloatSpec {
  readonly name: string;
  readonly mantissaBits: number;
  /** Exponent of the smallest normal binade (1 - bias). */
  readonly minNormalExp: number;
  /** Largest finite magnitude code. */
  readonly maxFiniteCode: number;
  readonly signBit: number;
  /** Magnitude code a rounding overflow produces (Inf for fp16, NaN for E4M3FN). */
  readonly overflowCode: number;
  /** Canonical NaN magnitude code. */
  readonly nanCode: number;
  /** Magnitude code of +Infinity, or -1 when the format has none. */
  readonly infCode: number;
}

/** IEEE binary16: bias 15, 10 mantissa bits, max 65504, smallest subnormal 2^-24. */
export const FP16: MinifloatSpec = {
  name: 'fp16',
  mantissaBits: 10,
  minNormalExp: -14,
  maxFiniteCode: 0x7bff,
  signBit: 0x8000,
  overflowCode: 0x7c00,
  nanCode: 0x7e00,
  infCode: 0x7c00,
};

/**
 * OCP FP8 E4M3FN: bias 7, 3 mantissa bits, no infinities, NaN = 0x7F / 0xFF (exponent and
 * mantissa all ones), max finite 0x7E = 1.75 * 2^8 = 448, smallest subnormal 2^-9.
 * Non-saturating conversion: a value that rounds beyond 448 becomes NaN.
 */
export const FP8_E4M3: MinifloatSpec = {
  name: 'fp8e4m3',
  mantissaBits: 3,
  minNormalExp: -6,
  maxFiniteCode: 0x7e,
  signBit: 0x80,
  overflowCode: 0x7f,
  nanCode: 0x7f,
  infCode: -1,
};

/** How a magnitude that falls between two codes is rounded. */
export type MagnitudeRounding = 'nearest-even' | 'down' | 'up';

function roundScaled(v: number, mode: MagnitudeRounding): number {
  const f = Math.floor(v);
  if (mode === 'down') return f;
  if (mode === 'up') return f === v ? f : f + 1;
  const d = v - f; // exact: v < 2^12 here
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Magnitude code of a finite non-negative value (may exceed maxFiniteCode on overflow). */
function magnitudeCode(spec: MinifloatSpec, abs: number, mode: MagnitudeRounding): number {
  if (abs === 0) return 0;
  let e = Math.floor(Math.log2(abs));
  // Math.log2 may be off by one near powers of two; fix it exactly.
  if (2 ** e > abs) e -= 1;
  else if (2 ** (e + 1) <= abs) e += 1;
  if (e < spec.minNormalExp) e = spec.minNormalExp; // subnormals share the lowest binade's step
  const m = spec.mantissaBits;
  // Scaling by a power of two is exact in double; scaled lies in [0, 2^(m+1)).
  const scaled = abs * 2 ** (m - e);
  // Normal: code = (e - minNormalExp + 1) << m | (r - 2^m) = (e - minNormalExp) * 2^m + r;
  // the same formula gives the subnormal code r when e = minNormalExp and scaled < 2^m, and a
  // rounding carry (r = 2^(m+1)) lands exactly on the next binade's first code.
  return (e - spec.minNormalExp) * 2 ** m + roundScaled(scaled, mode);
}

/**
 * Encodes a number. `rounding` applies to the value (toward -Infinity is 'floor', toward
 * +Infinity is 'ceil'), default round-to-nearest-even. NaN gives the canonical NaN; a value
 * beyond the finite range gives the overflow code (fp16: +-Inf; E4M3FN: NaN).
 */
export function encodeMinifloat(
  spec: MinifloatSpec,
  x: number,
  rounding: 'nearest-even' | 'floor' | 'ceil' = 'nearest-even',
): number {
  if (Number.isNaN(x)) return spec.nanCode;
  const negative = x < 0 || Object.is(x, -0);
  const sign = negative ? spec.signBit : 0;
  const abs = Math.abs(x);
  if (abs === Number.POSITIVE_INFINITY) return sign | spec.overflowCode;
  let mode: MagnitudeRounding = 'nearest-even';
  if (rounding === 'floor') mode = negative ? 'up' : 'down';
  else if (rounding === 'ceil') mode = negative ? 'down' : 'up';
  const code = magnitudeCode(spec, abs, mode);
  if (code > spec.maxFiniteCode) return sign | spec.overflowCode;
  return sign | code;
}

/** Decodes bits of the format to a number (exact; every value fits a float32). */
export function decodeMinifloat(spec: MinifloatSpec, bits: number): number {
  const negative = (bits & spec.signBit) !== 0;
  const code = bits & (spec.signBit - 1);
  let value: number;
  if (code === spec.nanCode || code > spec.maxFiniteCode) {
    if (code === spec.infCode) value = Number.POSITIVE_INFINITY;
    else return Number.NaN;
  } else {
    const m = spec.mantissaBits;
    const expField = code >> m;
    const mant = code & (2 ** m - 1);
    value =
      expField === 0
        ? mant * 2 ** (spec.minNormalExp - m)
        : (2 ** m + mant) * 2 ** (expField - 1 + spec.minNormalExp - m);
  }
  return negative ? -value : value;
}

/** Largest finite value of a format. */
export function maxFinite(spec: MinifloatSpec): number {
  return decodeMinifloat(spec, spec.maxFiniteCode);
}

/** IEEE binary16 bits of x, round-to-nearest-even, with subnormals; overflow gives +-Inf. */
export function encodeFp16(x: number): number {
  return encodeMinifloat(FP16, x);
}

export function decodeFp16(bits: number): number {
  return decodeMinifloat(FP16, bits);
}

/** OCP FP8 E4M3FN bits of x, round-to-nearest-even, with subnormals; beyond 448 gives NaN. */
export function encodeFp8E4M3(x: number): number {
  return encodeMinifloat(FP8_E4M3, x);
}

export function decodeFp8E4M3(bits: number): number {
  return decodeMinifloat(FP8_E4M3, bits);
}
