// The conformance checks, free of any test runner: describeBackend (describe-backend.ts)
// registers each one as a vitest test, and apps/web-demo's conformance page runs the same
// checks in a browser (it imports this file directly, since the package index also exports
// the vitest-based describeBackend). The oracle is the CPU reference backend and the
// reference quantizers.
import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type AttendDecodeInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  type BackendPlugin,
  type BitWidth,
  type KernelName,
  type Kernels,
  type MetaFormat,
  metaBytesPerUnit,
  mulberry32,
  rowCodeBytes,
  SkvqError,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
} from '@skvq/core';
import { quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import {
  type AttentionCase,
  attentionCaseSpecs,
  buildAttentionCase,
  prefillCaseSpecs,
} from './cases.js';
import { ATTENTION_RELATIVE_TOLERANCE, firstDifference, relativeError } from './compare.js';
import {
  channelBlockLayout,
  randomBytes,
  randomTokenGroupLayout,
  randomTokens,
} from './generators.js';

/** Channels of the quantize checks: not a multiple of 8, 5 or 3, so every row has padding. */
const QUANT_CHANNELS = 37;
const QUANT_TOKENS = 5;
const BLOCK_TOKENS = 4;
const METAS: readonly MetaFormat[] = SUPPORTED_META_FORMATS;
const BITS: readonly BitWidth[] = SUPPORTED_BITS;

/** Areas of the suite; describeBackend's `only` restricts a backend to the kernels it has. */
export type ConformanceArea =
  | 'quantizeTokens'
  | 'quantizeBlock'
  | 'dequantize'
  | 'attendDecode'
  | 'attendPrefill'
  | 'errors';

export const CONFORMANCE_AREAS: readonly ConformanceArea[] = [
  'quantizeTokens',
  'quantizeBlock',
  'dequantize',
  'attendDecode',
  'attendPrefill',
  'errors',
];

/** One check's outcome (what the browser page reports). */
export interface CheckResult {
  name: string;
  area: ConformanceArea;
  pass: boolean;
  /** Largest error seen: relative error (attention) or index of the first differing byte (-1 = none). */
  maxError: number;
  detail?: string;
}

export interface Check {
  name: string;
  area: ConformanceArea;
  /** Resolves to the measured error; throws (any error) when the case fails. */
  run: (backend: BackendPlugin) => Promise<number>;
}

class CheckFailure extends Error {
  constructor(
    message: string,
    readonly maxError: number,
  ) {
    super(message);
  }
}

function kernelOf<K extends KernelName>(
  backend: BackendPlugin,
  kernel: K,
): NonNullable<Kernels[K]> {
  const fn = backend.kernels[kernel];
  if (fn === undefined) {
    throw new SkvqError(
      'KERNEL_NOT_IMPLEMENTED',
      `backend "${backend.name}" does not implement kernel "${kernel}"`,
    );
  }
  return fn.bind(backend.kernels) as NonNullable<Kernels[K]>;
}

const reference = <K extends KernelName>(k: K) => kernelOf(cpuReferenceBackend, k);

function requireSame(
  got: Uint8Array | Float32Array,
  want: Uint8Array | Float32Array,
  what: string,
): number {
  const at = firstDifference(got, want);
  if (at !== -1) {
    // The bytes around the difference make a failing report diagnosable without a rerun.
    const from = Math.max(0, at - (at % 4));
    const near = (a: Uint8Array | Float32Array) => Array.from(a.subarray(from, from + 4)).join(',');
    throw new CheckFailure(
      `${what}: first difference at index ${at} (got ${near(got)}, want ${near(want)})`,
      at,
    );
  }
  return at;
}

/**
 * Codes and metadata bytes, both bit exact for every metadata format, on a GPU whose `/` is
 * not correctly rounded: the WebGPU kernels divide with a correctly rounded division
 * (backend-webgpu src/wgsl/division.ts); the gpu.js kernels flag values near a rounding
 * boundary and the host recomputes those rows exactly (backend-gpujs src/quantize.ts).
 */
function compareQuantized(
  codes: Uint8Array,
  wantCodes: Uint8Array,
  metaBytes: Uint8Array,
  wantMeta: Uint8Array,
): number {
  requireSame(codes, wantCodes, 'codes');
  return requireSame(metaBytes, wantMeta, 'meta');
}

function attrsOf(c: AttentionCase): AttentionAttrs {
  return {
    geometry: c.geometry,
    keysPreRope: c.spec.keysPreRope,
    ...(c.spec.scale === undefined ? {} : { scale: c.spec.scale }),
  };
}

function decodeInputs(c: AttentionCase, sums?: Float32Array): AttendDecodeInputs {
  return {
    q: c.q,
    position: c.length - 1,
    keys: c.keys,
    values: c.values,
    length: c.length,
    attentionSums: sums,
  };
}

function prefillInputs(c: AttentionCase, sums?: Float32Array): AttendPrefillInputs {
  const { start, count } = c.spec.prefill ?? { start: 0, count: 1 };
  return {
    q: c.q,
    start,
    count,
    keys: c.keys,
    values: c.values,
    length: c.length,
    attentionSums: sums,
  };
}

function quantizeTokensChecks(): Check[] {
  return BITS.flatMap((bits) =>
    METAS.map((meta) => ({
      area: 'quantizeTokens',
      name: `quantizeTokens bit exact: ${bits} bits, ${meta} meta, permuted unequal groups`,
      run: async (backend: BackendPlugin) => {
        const rng = mulberry32(100 + bits * 10 + METAS.indexOf(meta));
        const layout = randomTokenGroupLayout(rng, {
          channels: QUANT_CHANNELS,
          bits,
          meta,
          groupSize: 6,
        });
        const x = randomTokens(rng, QUANT_TOKENS, QUANT_CHANNELS);
        const codesOffset = 3;
        const metaOffset = 5;
        const codes = randomBytes(rng, codesOffset + (QUANT_TOKENS + 1) * rowCodeBytes(layout));
        const metaBytes = randomBytes(
          rng,
          metaOffset + (QUANT_TOKENS + 1) * metaBytesPerUnit(layout),
        );
        const wantCodes = codes.slice();
        const wantMeta = metaBytes.slice();
        quantizeTokensReference(
          layout,
          x,
          QUANT_TOKENS,
          wantCodes,
          codesOffset,
          wantMeta,
          metaOffset,
        );
        await kernelOf(
          backend,
          'quantizeTokens',
        )({
          layout,
          x,
          count: QUANT_TOKENS,
          codes,
          codesOffset,
          meta: metaBytes,
          metaOffset,
        });
        return compareQuantized(codes, wantCodes, metaBytes, wantMeta);
      },
    })),
  );
}

function quantizeBlockChecks(): Check[] {
  return BITS.flatMap((bits) =>
    METAS.map((meta) => ({
      area: 'quantizeBlock',
      name: `quantizeBlock bit exact: ${bits} bits, ${meta} meta (channel-block, KIVI keys)`,
      run: async (backend: BackendPlugin) => {
        const rng = mulberry32(200 + bits * 10 + METAS.indexOf(meta));
        const layout = channelBlockLayout(
          QUANT_CHANNELS,
          bits,
          meta,
          BLOCK_TOKENS,
          bits === 8 ? 1 : 0.9,
        );
        const x = randomTokens(rng, BLOCK_TOKENS, QUANT_CHANNELS);
        const codesOffset = 2;
        const metaOffset = 7;
        const codes = randomBytes(rng, codesOffset + (BLOCK_TOKENS + 1) * rowCodeBytes(layout));
        const metaBytes = randomBytes(rng, metaOffset + 2 * metaBytesPerUnit(layout));
        const wantCodes = codes.slice();
        const wantMeta = metaBytes.slice();
        quantizeBlockReference(layout, x, 0, wantCodes, codesOffset, wantMeta, metaOffset);
        await kernelOf(
          backend,
          'quantizeBlock',
        )({ layout, x, codes, codesOffset, meta: metaBytes, metaOffset });
        return compareQuantized(codes, wantCodes, metaBytes, wantMeta);
      },
    })),
  );
}

function dequantizeChecks(): Check[] {
  return BITS.flatMap((bits) =>
    (['token-group', 'channel-block'] as const).map((kind) => ({
      area: 'dequantize',
      name: `dequantize equals the reference: ${bits} bits, ${kind}, fp16 and fp8 meta, offset ranges`,
      run: async (backend: BackendPlugin) => {
        const rng = mulberry32(300 + bits * 10);
        for (const meta of ['fp16', 'fp8e4m3', 'fp32'] as const) {
          const tokens = 3 * BLOCK_TOKENS;
          const x = randomTokens(rng, tokens, QUANT_CHANNELS);
          const layout =
            kind === 'token-group'
              ? randomTokenGroupLayout(rng, { channels: QUANT_CHANNELS, bits, meta, groupSize: 6 })
              : channelBlockLayout(QUANT_CHANNELS, bits, meta, BLOCK_TOKENS);
          const codes = new Uint8Array(tokens * rowCodeBytes(layout));
          const metaBytes = new Uint8Array(tokens * metaBytesPerUnit(layout));
          if (layout.kind === 'token-group') {
            quantizeTokensReference(layout, x, tokens, codes, 0, metaBytes, 0);
          } else {
            for (let b = 0; b < 3; b++) {
              quantizeBlockReference(
                layout,
                x,
                b * BLOCK_TOKENS * QUANT_CHANNELS,
                codes,
                b * BLOCK_TOKENS * rowCodeBytes(layout),
                metaBytes,
                b * metaBytesPerUnit(layout),
              );
            }
          }
          for (const [first, count] of [
            [0, tokens],
            [1, 1],
            [BLOCK_TOKENS - 1, BLOCK_TOKENS + 2],
            [tokens - 1, 1],
            [2, 0],
          ] as const) {
            const inputs = { layout, codes, meta: metaBytes, first, count };
            const want = await reference('dequantize')(inputs);
            const got = await kernelOf(backend, 'dequantize')(inputs);
            if (got.length !== count * QUANT_CHANNELS) {
              throw new CheckFailure(
                `${meta} first ${first}: length ${got.length}, expected ${count * QUANT_CHANNELS}`,
                got.length,
              );
            }
            requireSame(got, want, `${meta} first ${first} count ${count}`);
          }
        }
        return -1;
      },
    })),
  );
}

function attentionChecks(mode: 'attendDecode' | 'attendPrefill', tolerance: number): Check[] {
  const specs = mode === 'attendDecode' ? attentionCaseSpecs() : prefillCaseSpecs();
  return specs.map((spec) => ({
    area: mode,
    name: `${mode} within ${tolerance} of the reference: ${spec.name}`,
    run: async (backend: BackendPlugin) => {
      const c = buildAttentionCase(spec);
      const attrs = attrsOf(c);
      const wantSums = new Float32Array(c.length);
      const gotSums = new Float32Array(c.length);
      const [want, got] =
        mode === 'attendDecode'
          ? [
              await reference('attendDecode')(decodeInputs(c, wantSums), attrs),
              await kernelOf(backend, 'attendDecode')(decodeInputs(c, gotSums), attrs),
            ]
          : [
              await reference('attendPrefill')(prefillInputs(c, wantSums), attrs),
              await kernelOf(backend, 'attendPrefill')(prefillInputs(c, gotSums), attrs),
            ];
      if (got.length !== want.length) {
        throw new CheckFailure(
          `output length ${got.length}, expected ${want.length}`,
          Number.POSITIVE_INFINITY,
        );
      }
      const outError = relativeError(got, want);
      const sumsError = relativeError(gotSums, wantSums);
      const maxError = Math.max(outError, sumsError);
      // NaN fails both comparisons on purpose.
      if (!(outError <= tolerance))
        throw new CheckFailure(`output relative error ${outError} > ${tolerance}`, outError);
      if (!(sumsError <= tolerance))
        throw new CheckFailure(
          `attentionSums relative error ${sumsError} > ${tolerance}`,
          sumsError,
        );
      // Each query row's probabilities add up to 1, to 3 decimals (|total - rows| < 5e-4).
      let total = 0;
      for (const s of gotSums) total += s;
      const rows = mode === 'attendDecode' ? 1 : (c.spec.prefill?.count ?? 1);
      if (!(Math.abs(total - rows) < 5e-4)) {
        throw new CheckFailure(`attentionSums add up to ${total}, expected ${rows}`, maxError);
      }
      return maxError;
    },
  }));
}

/** Runs `call`; passes when it throws a SkvqError with `code`. */
async function expectCode(call: () => unknown, code: string): Promise<number> {
  try {
    await call();
  } catch (error) {
    const got = (error as { code?: unknown }).code;
    if (got === code) return 0;
    throw new CheckFailure(`expected SkvqError ${code}, got ${String(got)}: ${String(error)}`, 1);
  }
  throw new CheckFailure(`expected SkvqError ${code}, nothing was thrown`, 1);
}

function errorChecks(): Check[] {
  const small = () => buildAttentionCase(attentionCaseSpecs()[0]!);
  return [
    {
      area: 'errors',
      name: 'attendDecode: a query of the wrong length is SHAPE_MISMATCH',
      run: (b) => {
        const c = small();
        return expectCode(
          () => kernelOf(b, 'attendDecode')({ ...decodeInputs(c), q: c.q.subarray(1) }, attrsOf(c)),
          'SHAPE_MISMATCH',
        );
      },
    },
    {
      area: 'errors',
      name: 'attendDecode: keys that miss a position are INVALID_ARGUMENT',
      run: (b) => {
        const c = small();
        return expectCode(
          () =>
            kernelOf(b, 'attendDecode')({ ...decodeInputs(c), keys: c.keys.slice(1) }, attrsOf(c)),
          'INVALID_ARGUMENT',
        );
      },
    },
    {
      area: 'errors',
      name: 'attendDecode: values that hold a position twice are INVALID_ARGUMENT',
      run: (b) => {
        const c = small();
        return expectCode(
          () =>
            kernelOf(b, 'attendDecode')(
              { ...decodeInputs(c), values: [...c.values, c.values[0]!] },
              attrsOf(c),
            ),
          'INVALID_ARGUMENT',
        );
      },
    },
    {
      area: 'errors',
      name: 'attendPrefill: query rows past the cache are INVALID_ARGUMENT; a short q is SHAPE_MISMATCH',
      run: async (b) => {
        const c = small();
        const attrs = attrsOf(c);
        const past = {
          ...prefillInputs(c),
          start: c.length - 1,
          count: 2,
          q: new Float32Array(2 * c.q.length),
        };
        await expectCode(() => kernelOf(b, 'attendPrefill')(past, attrs), 'INVALID_ARGUMENT');
        return expectCode(
          () => kernelOf(b, 'attendPrefill')({ ...prefillInputs(c), start: 0, count: 2 }, attrs),
          'SHAPE_MISMATCH',
        );
      },
    },
    {
      area: 'errors',
      name: 'quantizeTokens: NaN input is NON_FINITE_INPUT',
      run: (b) => {
        const rng = mulberry32(400);
        const layout = randomTokenGroupLayout(rng, { channels: 16, bits: 2, meta: 'fp16' });
        const x = randomTokens(rng, 2, 16);
        x[17] = Number.NaN;
        return expectCode(
          () =>
            kernelOf(
              b,
              'quantizeTokens',
            )({
              layout,
              x,
              count: 2,
              codes: new Uint8Array(64),
              codesOffset: 0,
              meta: new Uint8Array(256),
              metaOffset: 0,
            }),
          'NON_FINITE_INPUT',
        );
      },
    },
  ];
}

/** Every check of the shared suite, grouped by area in this order. */
export function conformanceChecks(tolerance = ATTENTION_RELATIVE_TOLERANCE): Check[] {
  return [
    ...quantizeTokensChecks(),
    ...quantizeBlockChecks(),
    ...dequantizeChecks(),
    ...attentionChecks('attendDecode', tolerance),
    ...attentionChecks('attendPrefill', tolerance),
    ...errorChecks(),
  ];
}

/** Runs every check against `backend`; a failing case is recorded, never stops the run. */
export async function runChecks(
  backend: BackendPlugin,
  checks: readonly Check[],
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const check of checks) {
    try {
      const maxError = await check.run(backend);
      out.push({ name: check.name, area: check.area, pass: true, maxError });
    } catch (error) {
      const maxError = error instanceof CheckFailure ? error.maxError : Number.NaN;
      out.push({
        name: check.name,
        area: check.area,
        pass: false,
        maxError,
        detail: String(error),
      });
    }
  }
  return out;
}
