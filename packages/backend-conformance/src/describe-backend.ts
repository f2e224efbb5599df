import { cpuReferenceBackend } from '@skvq/backend-cpu';
import { quantizeBlockReference } from '@skvq/baselines';
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
  rowCodeBytes,
  SkvqError,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
} from '@skvq/core';
import { quantizeTokensReference } from '@skvq/quantizer-group-clip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { createRng } from './rng.js';

/** Areas of the suite; `only` restricts a backend to the kernels it implements. */
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

/** A skip is data: why the backend cannot run here, and whether CI must run it anyway. */
export interface ConformanceSkip {
  reason: string;
  /** With SKVQ_REQUIRE_CI_FEATURES=1 a skipped suite marked so fails instead of skipping. */
  ciMustRun?: boolean;
}

export interface DescribeBackendOptions {
  skip?: ConformanceSkip | false;
  /** Relative tolerance of attention outputs; default ATTENTION_RELATIVE_TOLERANCE. */
  tolerance?: number;
  /** Run only these areas (a backend without some kernels); default all. */
  only?: readonly ConformanceArea[];
}

/** Environment flag CI sets so that a backend it must cover cannot be skipped silently. */
export const REQUIRE_CI_FEATURES_ENV = 'SKVQ_REQUIRE_CI_FEATURES';

/** Meta formats x bit widths of the exactness tests. */
const BITS: readonly BitWidth[] = SUPPORTED_BITS;
const METAS: readonly MetaFormat[] = SUPPORTED_META_FORMATS;
/** Channels of the quantize tests: not a multiple of 8, 5 or 3, so every row has padding. */
const QUANT_CHANNELS = 37;
const QUANT_TOKENS = 5;
const BLOCK_TOKENS = 4;

interface TestCase {
  name: string;
  run: () => Promise<void>;
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

function reference<K extends KernelName>(kernel: K): NonNullable<Kernels[K]> {
  return kernelOf(cpuReferenceBackend, kernel);
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

/** Expects `call` to throw (or reject with) a SkvqError of `code`. */
async function expectSkvqError(call: () => unknown, code: string): Promise<void> {
  let thrown: unknown;
  try {
    await call();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a SkvqError ${code}`).toBeInstanceOf(Error);
  expect((thrown as SkvqError).code).toBe(code);
}

function quantizeTokensCases(get: () => BackendPlugin): TestCase[] {
  const out: TestCase[] = [];
  for (const bits of BITS) {
    for (const meta of METAS) {
      out.push({
        name: `quantizeTokens bit exact: ${bits} bits, ${meta} meta, permuted unequal groups`,
        run: async () => {
          const rng = createRng(100 + bits * 10 + METAS.indexOf(meta));
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
            get(),
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
          expect(firstDifference(codes, wantCodes), 'first differing code byte').toBe(-1);
          expect(firstDifference(metaBytes, wantMeta), 'first differing meta byte').toBe(-1);
        },
      });
    }
  }
  return out;
}

function quantizeBlockCases(get: () => BackendPlugin): TestCase[] {
  const out: TestCase[] = [];
  for (const bits of BITS) {
    for (const meta of METAS) {
      out.push({
        name: `quantizeBlock bit exact: ${bits} bits, ${meta} meta (channel-block, KIVI keys)`,
        run: async () => {
          const rng = createRng(200 + bits * 10 + METAS.indexOf(meta));
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
            get(),
            'quantizeBlock',
          )({ layout, x, codes, codesOffset, meta: metaBytes, metaOffset });
          expect(firstDifference(codes, wantCodes), 'first differing code byte').toBe(-1);
          expect(firstDifference(metaBytes, wantMeta), 'first differing meta byte').toBe(-1);
        },
      });
    }
  }
  return out;
}

function dequantizeCases(get: () => BackendPlugin): TestCase[] {
  const out: TestCase[] = [];
  for (const bits of BITS) {
    for (const kind of ['token-group', 'channel-block'] as const) {
      out.push({
        name: `dequantize equals the reference: ${bits} bits, ${kind}, fp16 and fp8 meta, offset ranges`,
        run: async () => {
          const rng = createRng(300 + bits * 10);
          for (const meta of ['fp16', 'fp8e4m3', 'fp32'] as const) {
            const tokens = 3 * BLOCK_TOKENS;
            const x = randomTokens(rng, tokens, QUANT_CHANNELS);
            const layout =
              kind === 'token-group'
                ? randomTokenGroupLayout(rng, {
                    channels: QUANT_CHANNELS,
                    bits,
                    meta,
                    groupSize: 6,
                  })
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
              const got = await kernelOf(get(), 'dequantize')(inputs);
              expect(got.length).toBe(count * QUANT_CHANNELS);
              expect(firstDifference(got, want), `${meta} first ${first} count ${count}`).toBe(-1);
            }
          }
        },
      });
    }
  }
  return out;
}

function attentionCases(
  get: () => BackendPlugin,
  mode: 'attendDecode' | 'attendPrefill',
  tolerance: number,
): TestCase[] {
  const specs = mode === 'attendDecode' ? attentionCaseSpecs() : prefillCaseSpecs();
  return specs.map((spec) => ({
    name: `${mode} within ${tolerance} of the reference: ${spec.name}`,
    run: async () => {
      const c = buildAttentionCase(spec);
      const attrs = attrsOf(c);
      const wantSums = new Float32Array(c.length);
      const gotSums = new Float32Array(c.length);
      let want: Float32Array;
      let got: Float32Array;
      if (mode === 'attendDecode') {
        want = await reference('attendDecode')(decodeInputs(c, wantSums), attrs);
        got = await kernelOf(get(), 'attendDecode')(decodeInputs(c, gotSums), attrs);
      } else {
        want = await reference('attendPrefill')(prefillInputs(c, wantSums), attrs);
        got = await kernelOf(get(), 'attendPrefill')(prefillInputs(c, gotSums), attrs);
      }
      expect(got.length).toBe(want.length);
      expect(relativeError(got, want), 'relative error of the output').toBeLessThanOrEqual(
        tolerance,
      );
      expect(
        relativeError(gotSums, wantSums),
        'relative error of attentionSums',
      ).toBeLessThanOrEqual(tolerance);
      // The sums are probabilities averaged over heads: each query row adds 1 in total.
      let total = 0;
      for (const s of gotSums) total += s;
      expect(total).toBeCloseTo(mode === 'attendDecode' ? 1 : (c.spec.prefill?.count ?? 1), 3);
    },
  }));
}

function errorCases(get: () => BackendPlugin): TestCase[] {
  const small = () => buildAttentionCase(attentionCaseSpecs()[0]!);
  return [
    {
      name: 'attendDecode: a query of the wrong length is SHAPE_MISMATCH',
      run: async () => {
        const c = small();
        const inputs = { ...decodeInputs(c), q: c.q.subarray(1) };
        await expectSkvqError(
          () => kernelOf(get(), 'attendDecode')(inputs, attrsOf(c)),
          'SHAPE_MISMATCH',
        );
      },
    },
    {
      name: 'attendDecode: keys that miss a position are INVALID_ARGUMENT',
      run: async () => {
        const c = small();
        const inputs = { ...decodeInputs(c), keys: c.keys.slice(1) };
        await expectSkvqError(
          () => kernelOf(get(), 'attendDecode')(inputs, attrsOf(c)),
          'INVALID_ARGUMENT',
        );
      },
    },
    {
      name: 'attendDecode: values that hold a position twice are INVALID_ARGUMENT',
      run: async () => {
        const c = small();
        const inputs = {
          ...decodeInputs(c),
          values: [...c.values, c.values[0]!],
          length: c.length,
        };
        await expectSkvqError(
          () => kernelOf(get(), 'attendDecode')(inputs, attrsOf(c)),
          'INVALID_ARGUMENT',
        );
      },
    },
    {
      name: 'attendPrefill: query rows past the cache are INVALID_ARGUMENT; a short q is SHAPE_MISMATCH',
      run: async () => {
        const c = small();
        const attrs = attrsOf(c);
        const past = {
          ...prefillInputs(c),
          start: c.length - 1,
          count: 2,
          q: new Float32Array(2 * c.q.length),
        };
        await expectSkvqError(
          () => kernelOf(get(), 'attendPrefill')(past, attrs),
          'INVALID_ARGUMENT',
        );
        const short = { ...prefillInputs(c), start: 0, count: 2 };
        await expectSkvqError(
          () => kernelOf(get(), 'attendPrefill')(short, attrs),
          'SHAPE_MISMATCH',
        );
      },
    },
    {
      name: 'quantizeTokens: NaN input is NON_FINITE_INPUT',
      run: async () => {
        const rng = createRng(400);
        const layout = randomTokenGroupLayout(rng, { channels: 16, bits: 2, meta: 'fp16' });
        const x = randomTokens(rng, 2, 16);
        x[17] = Number.NaN;
        await expectSkvqError(
          () =>
            kernelOf(
              get(),
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

/**
 * The conformance suite every backend runs: quantize kernels bit exact against the
 * reference quantizers, dequantize equal to them, attention within `tolerance` of the
 * cpu-reference oracle, and typed errors for bad inputs.
 */
export function describeBackend(
  name: string,
  factory: () => BackendPlugin | Promise<BackendPlugin>,
  options: DescribeBackendOptions = {},
): void {
  const tolerance = options.tolerance ?? ATTENTION_RELATIVE_TOLERANCE;
  const areas = new Set(options.only ?? CONFORMANCE_AREAS);
  const skip = options.skip || undefined;
  describe(`backend conformance: ${name}`, () => {
    if (skipDecision(options.skip, readEnv(REQUIRE_CI_FEATURES_ENV)) === 'fail') {
      it(`CI requires backend ${name} (${REQUIRE_CI_FEATURES_ENV}=1) but it is skipped: ${skip?.reason}`, () => {
        throw new SkvqError(
          'BACKEND_INIT_FAILED',
          `CI requires backend "${name}" to run (${REQUIRE_CI_FEATURES_ENV}=1), but it was skipped: ${skip?.reason}`,
        );
      });
      return;
    }
    let backend: BackendPlugin | undefined;
    const get = (): BackendPlugin => {
      if (backend === undefined)
        throw new SkvqError('BACKEND_INIT_FAILED', `backend ${name} was not created`);
      return backend;
    };
    if (skip === undefined) {
      beforeAll(async () => {
        backend = await factory();
        await backend.init?.();
      });
      afterAll(async () => {
        await backend?.dispose?.();
      });
    }
    const groups: [ConformanceArea, TestCase[]][] = [
      ['quantizeTokens', quantizeTokensCases(get)],
      ['quantizeBlock', quantizeBlockCases(get)],
      ['dequantize', dequantizeCases(get)],
      ['attendDecode', attentionCases(get, 'attendDecode', tolerance)],
      ['attendPrefill', attentionCases(get, 'attendPrefill', tolerance)],
      ['errors', errorCases(get)],
    ];
    for (const [area, cases] of groups) {
      if (!areas.has(area)) continue;
      describe(area, () => {
        for (const c of cases) {
          if (skip !== undefined) it.skip(`${c.name} [skipped: ${skip.reason}]`, c.run);
          else it(c.name, c.run);
        }
      });
    }
  });
}

/**
 * What the suite does with a skip option: 'run' (no skip), 'skip' (tests registered with
 * it.skip and the reason in their names), or 'fail' (the skip is marked ciMustRun and the
 * environment flag SKVQ_REQUIRE_CI_FEATURES is '1': CI must not skip this backend).
 */
export function skipDecision(
  skip: ConformanceSkip | false | undefined,
  requireCiFeatures: string | undefined,
): 'run' | 'skip' | 'fail' {
  if (!skip) return 'run';
  return skip.ciMustRun === true && requireCiFeatures === '1' ? 'fail' : 'skip';
}

/** process.env without assuming Node (the suite may run in a browser test runner). */
function readEnv(key: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  return env?.[key];
}
