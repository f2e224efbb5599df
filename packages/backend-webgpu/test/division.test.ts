// divRn (src/wgsl/division.ts): correctly rounded f32 division from an inexact hardware
// quotient. The CPU half runs a float32 transcription of the WGSL (test/div-rn-model.ts)
// against Math.fround(a / b) (double division rounded once to float32 is the correctly
// rounded float32 quotient) over random and adversarial operands, with the hardware's
// quotient perturbed by up to DIV_RN_MAX_STEPS ulps. The GPU half runs the WGSL itself.
import { describe, expect, test } from 'vitest';
import { DIV_RN_MAX_STEPS, divisionWgsl } from '../src/wgsl/division.js';
import {
  type ApproxDivide,
  bitsOf,
  divRn,
  divRnCore,
  floatOf,
  mantissa,
  nearMidpoint,
  nextBits,
} from './div-rn-model.js';
import { describeWebgpu, probeWebgpu, rng } from './helpers.js';

const f = Math.fround;
/** Operand pairs per CPU sweep (five sweeps: well over a million divisions in all). */
const PAIRS = 250_000;

/** Any finite float32 with a random sign, exponent and mantissa (subnormals and zero too). */
function anyFinite(random: () => number): number {
  const bits = Math.floor(random() * 0x100000000) >>> 0;
  return ((bits >>> 23) & 0xff) === 255 ? floatOf(bits & 0xff7fffff) : floatOf(bits);
}

/** The hardware's division modelled as the exact quotient moved by a random 0..±steps ulps. */
function sloppyDivide(random: () => number, steps: number): ApproxDivide {
  return (a, b) => {
    const exact = f(a / b);
    // Below the normal range a GPU may flush; the model keeps those exact (divRn defers).
    if (!Number.isFinite(exact) || Math.abs(exact) < 2 ** -126) return exact;
    return nextBits(exact, Math.floor(random() * (2 * steps + 1)) - steps);
  };
}

/** Collects up to 5 failures as readable strings, so a broken sweep says why. */
function sweep(n: number, check: (i: number) => string | undefined): string[] {
  const bad: string[] = [];
  for (let i = 0; i < n && bad.length < 5; i++) {
    const why = check(i);
    if (why !== undefined) bad.push(why);
  }
  return bad;
}

const show = (x: number) => `${x} (0x${bitsOf(x).toString(16)})`;

describe('divRn float32 model vs correctly rounded division', () => {
  test('mantissas in [1, 2), approximate quotient off by every amount up to the step limit', () => {
    const random = rng(1);
    let perturbed = 0;
    const bad = sweep(PAIRS, () => {
      const a = mantissa(random);
      const b = mantissa(random);
      const want = f(a / b);
      for (let k = -DIV_RN_MAX_STEPS; k <= DIV_RN_MAX_STEPS; k++) {
        const q0 = nextBits(want, k);
        if (q0 !== want) perturbed++;
        const got = divRnCore(a, b, q0);
        if (got !== want)
          return `${show(a)} / ${show(b)} from q0 ${k} ulps: ${show(got)}, want ${show(want)}`;
      }
      return undefined;
    });
    expect(bad).toEqual([]);
    expect(perturbed).toBe(PAIRS * 2 * DIV_RN_MAX_STEPS);
  });

  test('quotients next to a rounding midpoint (the hard cases)', () => {
    const random = rng(2);
    let found = 0;
    const bad = sweep(3 * PAIRS, () => {
      const pair = nearMidpoint(random);
      if (pair === undefined) return undefined;
      found++;
      const { a, b } = pair;
      const want = f(a / b);
      // The generator's promise, checked in double (error 2^-53, the distance ~2^-47).
      const below = a / b < want ? nextBits(want, -1) : want;
      const mid = (below + nextBits(below, 1)) / 2;
      if (!(Math.abs(a / b - mid) < (mid - below) * 2 ** -18))
        return `not near a midpoint: ${a} / ${b}`;
      const q0 = nextBits(want, Math.floor(random() * 7) - 3);
      const got = divRnCore(a, b, q0);
      return got === want ? undefined : `${show(a)} / ${show(b)}: ${show(got)}, want ${show(want)}`;
    });
    expect(bad).toEqual([]);
    expect(found).toBeGreaterThan(PAIRS / 2);
  });

  test('any finite operands, hardware quotient up to 3 ulps off (WGSL allows 2.5)', () => {
    const random = rng(3);
    const divide = sloppyDivide(random, 3);
    let normal = 0;
    let wrongBefore = 0;
    const bad = sweep(PAIRS, () => {
      const a = anyFinite(random);
      const b = anyFinite(random);
      const want = f(a / b);
      const got = divRn(a, b, (x, y) => divide(x, y));
      if (b === 0 || Math.abs(want) < 2 ** -126) {
        // Left to the hardware (a zero divisor, a subnormal quotient): the model's is exact.
        return Object.is(got, want) ? undefined : `${show(a)} / ${show(b)}: ${show(got)}`;
      }
      normal++;
      if (divide(a, b) !== want) wrongBefore++;
      return Object.is(got, want)
        ? undefined
        : `${show(a)} / ${show(b)}: ${show(got)}, want ${show(want)}`;
    });
    expect(bad).toEqual([]);
    expect(normal).toBeGreaterThan(PAIRS / 3);
    expect(wrongBefore).toBeGreaterThan(normal / 2);
  });

  test('edges: overflow to +/-Inf as IEEE rounds it, signed zero, subnormal operands', () => {
    const divide = sloppyDivide(rng(4), 3);
    const max = floatOf(0x7f7fffff);
    expect(divRn(max, 0.5, divide)).toBe(Number.POSITIVE_INFINITY);
    expect(divRn(-max, f(0.9999999), divide)).toBe(Number.NEGATIVE_INFINITY);
    expect(divRn(max, f(1 + 2 ** -23), divide)).toBe(f(max / f(1 + 2 ** -23)));
    expect(divRn(max, 1, divide)).toBe(max);
    expect(Object.is(divRn(-0, 3, divide), -0)).toBe(true);
    // Subnormal operands are normalized from their bits: exact quotients far from zero.
    expect(divRn(floatOf(1), floatOf(2), divide)).toBe(0.5);
    expect(divRn(floatOf(3), f(2 ** -140), divide)).toBe(f(3 * 2 ** -9));
  });

  test('the quantizer operands: (hi - zero) / maxq and (x - zero) / scale', () => {
    const random = rng(5);
    const divide = sloppyDivide(random, 3);
    const maxqs = [2, 3, 7, 15, 255];
    const bad = sweep(PAIRS, (i) => {
      const spread = 2 ** Math.floor(random() * 40 - 20);
      const zero = f((random() - 0.7) * spread);
      const x = f(zero + random() * spread);
      const a = f(x - zero);
      const b = i % 2 === 0 ? maxqs[i % maxqs.length]! : f(Math.max(f(spread * random()), f(1e-5)));
      const want = f(a / b);
      if (Math.abs(want) < 2 ** -126 || a === 0) return undefined;
      const got = divRn(a, b, divide);
      return got === want ? undefined : `${show(a)} / ${show(b)}: ${show(got)}, want ${show(want)}`;
    });
    expect(bad).toEqual([]);
  });
});

/** Runs divRnCore(a, b, q0) and divRn(a, b) on the device; returns both results. */
async function onDevice(
  backend: Awaited<ReturnType<typeof probeWebgpu>>['backend'] & object,
  a: Float32Array,
  b: Float32Array,
  q0: Float32Array,
): Promise<{ core: Float32Array; full: Float32Array }> {
  const ctx = backend.context();
  const n = a.length;
  const wg = ctx.workgroupSize;
  const pipeline = ctx.pipeline(
    `test-division:${wg}`,
    () => /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> q0: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${divisionWgsl()}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= arrayLength(&a)) { return; }
  out[i] = divRnCore(a[i], b[i], q0[i]);
  out[arrayLength(&a) + i] = divRn(a[i], b[i]);
}`,
  );
  const buffers = [ctx.storage(a), ctx.storage(b), ctx.storage(q0), ctx.output(8 * n)];
  try {
    const bytes = await ctx.run(
      (encoder) => ctx.dispatch(encoder, pipeline, buffers, [Math.ceil(n / wg)]),
      buffers[3]!,
      8 * n,
    );
    const out = new Float32Array(bytes);
    return { core: out.subarray(0, n), full: out.subarray(n) };
  } finally {
    for (const buffer of buffers) buffer.destroy();
  }
}

const probe = await probeWebgpu();

describeWebgpu('divRn WGSL on the device', probe, (backend) => {
  test('corrects quotients perturbed by up to the step limit, and divides exactly', async () => {
    const random = rng(6);
    const n = 1 << 16;
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    const q0 = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      // Half next to a rounding midpoint (hard), half uniform.
      const pair = (i % 2 === 0 ? nearMidpoint(random) : undefined) ?? {
        a: mantissa(random),
        b: mantissa(random),
      };
      a[i] = pair.a;
      b[i] = pair.b;
      const k = (i % (2 * DIV_RN_MAX_STEPS + 1)) - DIV_RN_MAX_STEPS;
      q0[i] = nextBits(f(a[i]! / b[i]!), k);
    }
    // Full divRn over wide exponents too: scale the second half of the operands.
    const full = { a: a.slice(), b: b.slice() };
    for (let i = n / 2; i < n; i++) {
      full.a[i] = f(a[i]! * 2 ** Math.floor(random() * 120 - 60));
      full.b[i] = f(b[i]! * 2 ** Math.floor(random() * 120 - 60));
    }
    const got = await onDevice(backend, a, b, q0);
    const gotFull = await onDevice(backend, full.a, full.b, q0);
    const bad: string[] = [];
    for (let i = 0; i < n && bad.length < 5; i++) {
      const want = f(a[i]! / b[i]!);
      if (got.core[i] !== want)
        bad.push(
          `core ${show(a[i]!)} / ${show(b[i]!)} q0 ${show(q0[i]!)}: ${show(got.core[i]!)}, want ${show(want)}`,
        );
      const wantFull = f(full.a[i]! / full.b[i]!);
      if (gotFull.full[i] !== wantFull)
        bad.push(
          `divRn ${show(full.a[i]!)} / ${show(full.b[i]!)}: ${show(gotFull.full[i]!)}, want ${show(wantFull)}`,
        );
    }
    expect(bad).toEqual([]);
  });
});
