/**
 * WGSL of a correctly rounded float32 division, `fn divRn(a: f32, b: f32) -> f32`.
 *
 * Why: the reference quantizer divides in float32 with IEEE (correctly rounded) division,
 * but WGSL only bounds `a / b` to 2.5 ulp ("Floating Point Accuracy"), and real compilers use
 * that: Chromium's SwiftShader divides by a literal through its reciprocal (measured: 1 ulp
 * off on a third of `x / 3.0`, half of `x / 255.0`), which made fp32 scales
 * (hi - zero) / maxq differ from the reference. So the hardware quotient
 * is only a first guess, corrected with exact arithmetic built from + - * alone, which WGSL
 * does require to be correctly rounded for f32:
 *
 * 1. Scale: a = ma * 2^ea, b = mb * 2^eb with ma, mb in [1, 2) (exponent bits swapped in).
 *    The quotient of the mantissas lies in (0.5, 2), where nothing below overflows or is
 *    subnormal (GPUs may flush subnormals), and rounding it then rescaling by 2^(ea - eb)
 *    is the correct rounding of a / b whenever that is a normal float.
 * 2. q0 = ma / mb (hardware, within 2.5 ulp). The sign of the residual ma - q * mb says
 *    whether q lies above the true quotient; it is exact: q * mb = prod + err exactly
 *    (Dekker's TwoProduct, Veltkamp split by 4097 = 2^12 + 1, so every partial product
 *    has at most 24 bits), ma - prod is exact by Sterbenz (prod within a factor 2 of ma),
 *    and one rounded subtraction of two exact floats keeps the sign of their difference.
 *    Walking q by one ulp (bits +/- 1) until ma - q * mb >= 0 > ma - next(q) * mb
 *    brackets the true quotient between two neighbours (at most DIV_RN_MAX_STEPS steps
 *    each way; 2.5 ulp needs at most 3).
 * 3. For those two faithful candidates the residuals are exactly representable (a known
 *    property of faithful quotients), so they are computed exactly and compared: the
 *    nearer candidate wins; a tie (impossible for a quotient of two floats, kept for
 *    completeness) goes to the even one.
 *
 * Subnormal operands are normalized from their bits (countLeadingZeros), never touched by
 * float arithmetic. The hardware quotient stands where IEEE has nothing finite and normal to
 * round to: an infinite or NaN operand, a zero divisor, or a quotient below 2^-126 (WGSL
 * lets GPUs flush those to zero). 0 / b is a signed zero; an overflowing quotient is
 * +/-Inf, as IEEE rounds it. The quantizer never depends on those cases: a
 * quotient below 2^-126 gives code 0 and the scale floor, an infinite one the clamp's end.
 *
 * Contraction: a compiler fusing `a - q * b` into an FMA would not change this result.
 * Every partial product of the split is exact, so fusing one of them with its addition
 * rounds the same; the split's `c - q` and the residual's `a - prod` use products that
 * have a second use (`c`, `prod` appear twice), which Mesa (NIR: is_used_once) and LLVM's
 * default (no `contract` flag) never fuse. Checked on Mesa and SwiftShader by
 * test/division.test.ts and apps/web-demo's Chromium test (bit exact everywhere).
 */

/** Ulp steps the correction walks each way from the hardware quotient (WGSL: 2.5 ulp). */
export const DIV_RN_MAX_STEPS = 4;

/** Veltkamp's splitter for float32 (24-bit significand): 2^ceil(24 / 2) + 1. */
export const SPLITTER = 4097;

/**
 * `divRnCore(a, b, q0)`: the correctly rounded a / b for a, b in [1, 2), from an approximate
 * quotient q0 (at most DIV_RN_MAX_STEPS ulps off), and `divRn(a, b)` for any f32.
 */
export function divisionWgsl(): string {
  return /* wgsl */ `
// Exact sign (and, for a faithful q, the exact value) of a - q * b; b = hb + lb split.
fn divRnResidual(a: f32, b: f32, hb: f32, lb: f32, q: f32) -> f32 {
  let prod = q * b;
  let c = ${SPLITTER}.0 * q;
  let hq = c - (c - q);
  let lq = q - hq;
  let err = lq * lb - (((prod - hq * hb) - lq * hb) - hq * lb);
  return (a - prod) - err;
}

fn divRnNext(q: f32) -> f32 { return bitcast<f32>(bitcast<u32>(q) + 1u); }

// Correctly rounded a / b for a, b in [1, 2) given q0 within ${DIV_RN_MAX_STEPS} ulps of it.
fn divRnCore(a: f32, b: f32, q0: f32) -> f32 {
  let cb = ${SPLITTER}.0 * b;
  let hb = cb - (cb - b);
  let lb = b - hb;
  // q is positive (the quotient lies in (0.5, 2)), so its neighbours are bits -/+ 1.
  var q = q0;
  var r = divRnResidual(a, b, hb, lb, q);
  for (var i = 0u; i < ${DIV_RN_MAX_STEPS}u; i++) {
    if (r >= 0.0) { break; }
    q = bitcast<f32>(bitcast<u32>(q) - 1u);
    r = divRnResidual(a, b, hb, lb, q);
  }
  var up = divRnNext(q);
  var rUp = divRnResidual(a, b, hb, lb, up);
  for (var i = 0u; i < ${DIV_RN_MAX_STEPS}u; i++) {
    if (rUp < 0.0) { break; }
    q = up;
    r = rUp;
    up = divRnNext(q);
    rUp = divRnResidual(a, b, hb, lb, up);
  }
  // Now q <= a / b < up, and r, rUp are the exact residuals of both.
  if (-rUp < r || (-rUp == r && (bitcast<u32>(q) & 1u) == 1u)) { return up; }
  return q;
}

// Exponent field of a nonzero finite |x| from its bits; a subnormal's as if normalized.
fn divRnExponent(bits: u32) -> i32 {
  let e = (bits >> 23u) & 0xffu;
  if (e != 0u) { return i32(e); }
  return 9 - i32(countLeadingZeros(bits & 0x7fffffu));
}

// The significand of a nonzero finite |x| as a float in [1, 2), built from its bits.
fn divRnSignificand(bits: u32) -> f32 {
  var m = bits & 0x7fffffu;
  if (((bits >> 23u) & 0xffu) == 0u) { m = (m << (countLeadingZeros(m) - 8u)) & 0x7fffffu; }
  return bitcast<f32>(m | 0x3f800000u);
}

// Correctly rounded f32 division (IEEE round to nearest even) for finite nonzero b and a
// normal or overflowing quotient; otherwise the hardware quotient (see division.ts).
fn divRn(a: f32, b: f32) -> f32 {
  let ab = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let sign = (ab ^ bb) & 0x80000000u;
  if (((ab >> 23u) & 0xffu) == 255u || (bb & 0x7fffffffu) == 0u || ((bb >> 23u) & 0xffu) == 255u) {
    return a / b;
  }
  if ((ab & 0x7fffffffu) == 0u) { return bitcast<f32>(sign); }
  let ma = divRnSignificand(ab);
  let mb = divRnSignificand(bb);
  let qb = bitcast<u32>(divRnCore(ma, mb, ma / mb));
  let e = i32((qb >> 23u) & 0xffu) + divRnExponent(ab) - divRnExponent(bb);
  if (e >= 255) { return bitcast<f32>(sign | 0x7f800000u); }
  if (e <= 0) { return a / b; }
  return bitcast<f32>(sign | (u32(e) << 23u) | (qb & 0x7fffffu));
}`;
}
