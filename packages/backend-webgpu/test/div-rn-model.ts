// A float32 transcription of src/wgsl/division.ts (divRnResidual, divRnCore, divRn), line
// for line, for the CPU test of the algorithm: Math.fround after every + - * models WGSL's
// correctly rounded f32 operations; plus the hard operands the tests divide. Used by tests
// only: test/division.test.ts, and apps/web-demo's Chromium test (the same WGSL on SwiftShader).
import { DIV_RN_MAX_STEPS, SPLITTER } from '../src/wgsl/division.js';

const f = Math.fround;
const buf = new DataView(new ArrayBuffer(4));

export function bitsOf(x: number): number {
  buf.setFloat32(0, x);
  return buf.getUint32(0);
}

export function floatOf(bits: number): number {
  buf.setUint32(0, bits >>> 0);
  return buf.getFloat32(0);
}

function residual(a: number, b: number, hb: number, lb: number, q: number): number {
  const prod = f(q * b);
  const c = f(SPLITTER * q);
  const hq = f(c - f(c - q));
  const lq = f(q - hq);
  const err = f(f(lq * lb) - f(f(f(prod - f(hq * hb)) - f(lq * hb)) - f(hq * lb)));
  return f(f(a - prod) - err);
}

const next = (q: number) => floatOf(bitsOf(q) + 1);

/** divRnCore: a, b in [1, 2) (float32), q0 an approximate float32 quotient. */
export function divRnCore(a: number, b: number, q0: number): number {
  const cb = f(SPLITTER * b);
  const hb = f(cb - f(cb - b));
  const lb = f(b - hb);
  let q = q0;
  let r = residual(a, b, hb, lb, q);
  for (let i = 0; i < DIV_RN_MAX_STEPS; i++) {
    if (r >= 0) break;
    q = floatOf(bitsOf(q) - 1);
    r = residual(a, b, hb, lb, q);
  }
  let up = next(q);
  let rUp = residual(a, b, hb, lb, up);
  for (let i = 0; i < DIV_RN_MAX_STEPS; i++) {
    if (rUp < 0) break;
    q = up;
    r = rUp;
    up = next(q);
    rUp = residual(a, b, hb, lb, up);
  }
  if (-rUp < r || (-rUp === r && (bitsOf(q) & 1) === 1)) return up;
  return q;
}

/** The GPU's division: any float32 function within a few ulps of a / b. */
export type ApproxDivide = (a: number, b: number) => number;

function exponent(bits: number): number {
  const e = (bits >>> 23) & 0xff;
  if (e !== 0) return e;
  return 9 - Math.clz32(bits & 0x7fffff);
}

function significand(bits: number): number {
  let m = bits & 0x7fffff;
  if (((bits >>> 23) & 0xff) === 0) m = (m << (Math.clz32(m) - 8)) & 0x7fffff;
  return floatOf(m | 0x3f800000);
}

/** divRn(a, b) with `divide` standing for the hardware's `a / b`. */
export function divRn(a: number, b: number, divide: ApproxDivide): number {
  const ab = bitsOf(a);
  const bb = bitsOf(b);
  const sign = (ab ^ bb) & 0x80000000;
  if (((ab >>> 23) & 0xff) === 255 || (bb & 0x7fffffff) === 0 || ((bb >>> 23) & 0xff) === 255) {
    return divide(a, b);
  }
  if ((ab & 0x7fffffff) === 0) return floatOf(sign);
  const ma = significand(ab);
  const mb = significand(bb);
  const qb = bitsOf(divRnCore(ma, mb, divide(ma, mb)));
  const e = ((qb >>> 23) & 0xff) + exponent(ab) - exponent(bb);
  if (e >= 255) return floatOf(sign | 0x7f800000);
  if (e <= 0) return divide(a, b);
  return floatOf(sign | (e << 23) | (qb & 0x7fffff));
}

/** The float32 `k` representable steps from x (bits + k; x > 0 and no sign crossing). */
export const nextBits = (x: number, k: number): number => floatOf(bitsOf(x) + k);

/** A float32 in [1, 2) with a uniformly random mantissa. */
export function mantissa(random: () => number): number {
  return floatOf(0x3f800000 | Math.floor(random() * 0x800000));
}

/** x^-1 mod m (m odd, x < m < 2^24: every product stays below 2^53). */
function modInverse(x: number, m: number): number {
  let [r0, r1, t0, t1] = [m, x, 0, 1];
  while (r1 !== 0) {
    const k = Math.floor(r0 / r1);
    [r0, r1, t0, t1] = [r1, r0 - k * r1, t1, t0 - k * t1];
  }
  return ((t0 % m) + m) % m;
}

/**
 * Operands a, b in [1, 2) whose quotient lies within |d| / 2^24 ulp of a rounding midpoint
 * (0 < |d| <= 8), the hardest cases of correct rounding (an exact midpoint is impossible).
 * With a = A 2^-23, b = B 2^-23 (B odd) and the quotient's ulp 2^-(s-1) (s = 24 in [1, 2),
 * 25 in [0.5, 1)): 2^s A - (2Q + 1) B = d, solved for A mod B.
 */
export function nearMidpoint(random: () => number): { a: number; b: number } | undefined {
  const B = 0x800000 + 2 * Math.floor(random() * 0x400000) + 1;
  const s = random() < 0.5 ? 24 : 25;
  const d = (Math.floor(random() * 8) + 1) * (random() < 0.5 ? -1 : 1);
  const A0 = (((d * modInverse(2 ** s % B, B)) % B) + B) % B;
  for (let A = A0; A < 0x1000000; A += B) {
    if (A < 0x800000 || (s === 24) !== A >= B) continue;
    const odd = (2 ** s * A - d) / B;
    if (odd % 2 === 1) return { a: A * 2 ** -23, b: B * 2 ** -23 };
  }
  return undefined;
}
