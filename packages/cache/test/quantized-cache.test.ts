import { type FilterRule, kvHidden, queryHidden } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { createDenseCache, createQuantizedCache, type QuantizedCache } from '../src/index.js';
import {
  maxAbsDiff,
  oracleBackend,
  randomActivations,
  referenceAttendOne,
  relativeError,
} from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, METHODS, type Method, methodOptions } from './helpers/setup.js';
import { simulateCache } from './helpers/simulate.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);
/**
 * Oracle backend: the cache's output is the float64 oracle rounded to float32 over the same
 * codes, so only float32 rounding separates it from the independent simulation.
 */
const ORACLE_TOLERANCE = 1e-5;

function data(n: number, seed: number) {
  return {
    k: randomActivations(n * CH, seed, CH),
    v: randomActivations(n * CH, seed + 1),
    q: randomActivations(n * QH, seed + 2),
  };
}

function expectMatchesSimulation(
  cache: QuantizedCache,
  layer: number,
  d: ReturnType<typeof data>,
  length: number,
  window: number,
  sinks: number,
  tol: number,
  originalFrom?: number,
) {
  const layouts = cache.layouts(layer);
  const sim = simulateCache(geometry, d.k, d.v, length, {
    window,
    sinks,
    keysPreRope: cache.keysPreRope,
    layouts,
    ...(originalFrom === undefined ? {} : { originalFrom }),
  });
  const got = cache.attend(
    layer,
    d.q.slice((length - 1) * QH, length * QH),
    length - 1,
  ) as Float32Array;
  const want = referenceAttendOne(
    geometry,
    cache.keysPreRope,
    d.q,
    (length - 1) * QH,
    length - 1,
    sim.keys,
    sim.values,
  );
  expect(maxAbsDiff(got, want)).toBeLessThan(tol);
}

describe.each(METHODS)('quantized cache, method %s', (method: Method) => {
  const blockStream = method.startsWith('kivi');
  it.each([
    [16, 5],
    [0, 5],
    [1, 0],
    [1, 1],
    [8, 200], // every token a sink: nothing quantized
    [200, 3], // window holds everything: nothing quantized
  ])('window %i, sinks %i: prefill + decode equal the independent simulation', (window, sinks) => {
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend: oracleBackend(),
      policy: () => fifoPolicy(window, sinks),
      pageTokens: 32,
      ...methodOptions(method),
    });
    expect(cache.keysPreRope).toBe(!blockStream);
    const n = 90;
    const d = data(n, 11);
    cache.append(1, d.k.subarray(0, 50 * CH), d.v.subarray(0, 50 * CH), 50);
    expectMatchesSimulation(cache, 1, d, 50, window, sinks, ORACLE_TOLERANCE);
    for (let t = 50; t < n; t++) {
      cache.append(1, d.k.slice(t * CH, (t + 1) * CH), d.v.slice(t * CH, (t + 1) * CH), 1);
      if (t % 13 === 0 || t === n - 1)
        expectMatchesSimulation(cache, 1, d, t + 1, window, sinks, ORACLE_TOLERANCE);
    }
    const desc = cache.describeLayer(1);
    const left = n - Math.min(window, n);
    const quantizable = Math.max(0, left - sinks);
    expect(desc.window).toBe(Math.min(window, n));
    expect(desc.sinks).toBe(Math.min(sinks, left));
    expect(desc.quantized.v).toBe(quantizable);
    const kBlocks = blockStream ? Math.floor(quantizable / 32) * 32 : quantizable;
    expect(desc.quantized.k).toBe(kBlocks);
    expect(desc.pending.k).toBe(quantizable - kBlocks);
    expect(cache.length(0)).toBe(0);
  });

  it('a page boundary inside one prefill run, pages never reallocated', () => {
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend: oracleBackend(),
      policy: () => fifoPolicy(4, 2),
      pageTokens: 32,
      ...methodOptions(method),
    });
    const d = data(140, 21);
    cache.append(0, d.k.subarray(0, 70 * CH), d.v.subarray(0, 70 * CH), 70);
    const firstPage = () => {
      const seg = cache.segments(0).values.find((s) => s.kind === 'packed');
      return seg?.kind === 'packed' ? seg.codes : null;
    };
    const before = firstPage();
    cache.append(0, d.k.subarray(70 * CH), d.v.subarray(70 * CH), 70);
    expect(firstPage()).toBe(before);
    // pages grow from 16 tokens, at most an eighth of what is held: 16s below 256 tokens
    expect(cache.describeLayer(0).pages.v).toBe(Math.ceil(134 / 16));
    expectMatchesSimulation(cache, 0, d, 140, 4, 2, ORACLE_TOLERANCE);
    const b = cache.bytes();
    expect(b.tokens).toBe(140);
    expect(b.elements).toBe(140 * 2 * CH);
    expect(b.total).toBe(
      b.codes +
        b.metadata +
        b.positions +
        b.window +
        b.sinks +
        b.keptFp +
        b.permutations +
        b.pageSlack,
    );
  });

  it.each(['quantized', 'original'] as const)('prefillAttention %s', (mode) => {
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend: oracleBackend(),
      policy: () => fifoPolicy(8, 2),
      pageTokens: 32,
      prefillAttention: mode,
      ...methodOptions(method),
    });
    const d = data(120, 31);
    cache.append(0, d.k.subarray(0, 60 * CH), d.v.subarray(0, 60 * CH), 60);
    cache.append(0, d.k.subarray(60 * CH), d.v.subarray(60 * CH), 60);
    const got = cache.attendPrefill(0, d.q.slice(60 * QH), 60, 60) as Float32Array;
    const layouts = cache.layouts(0);
    const sim = simulateCache(geometry, d.k, d.v, 120, {
      window: 8,
      sinks: 2,
      keysPreRope: cache.keysPreRope,
      layouts,
      ...(mode === 'original' ? { originalFrom: 60 } : {}),
    });
    for (const i of [0, 17, 59]) {
      const want = referenceAttendOne(
        geometry,
        cache.keysPreRope,
        d.q,
        (60 + i) * QH,
        60 + i,
        sim.keys,
        sim.values,
      );
      expect(maxAbsDiff(got.subarray(i * QH, (i + 1) * QH), want)).toBeLessThan(ORACLE_TOLERANCE);
    }
    // Later decode reads see the chunk quantized in both modes.
    expectMatchesSimulation(cache, 0, d, 120, 8, 2, ORACLE_TOLERANCE);
  });
});

describe('quantized cache behaviour', () => {
  /** 8-bit codes: relative error of the attention output far below 1%. */
  const EIGHT_BIT_TOLERANCE = 1e-2;

  it('at 8 bits attends close to the dense cache', () => {
    const backend = oracleBackend();
    const dense = createDenseCache({ geometry, precision: 'fp32', backend });
    const q8 = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend,
      policy: () => fifoPolicy(4, 1),
      keys: {
        quantizer: methodOptions('rtn').keys.quantizer,
        bits: 8,
        meta: 'fp16',
        groupSize: 16,
      },
      values: {
        quantizer: methodOptions('rtn').keys.quantizer,
        bits: 8,
        meta: 'fp16',
        groupSize: 16,
      },
    });
    const d = data(80, 41);
    dense.append(0, d.k, d.v, 80);
    q8.append(0, d.k, d.v, 80);
    const q = d.q.slice(79 * QH);
    const err = relativeError(
      q8.attend(0, q, 79) as Float32Array,
      dense.attend(0, q, 79) as Float32Array,
    );
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(EIGHT_BIT_TOLERANCE);
  });

  it('feeds attention sums back to the policy (heavy-hitter rules)', () => {
    const policies = [fifoPolicy(4, 1), fifoPolicy(4, 1)];
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend: oracleBackend(),
      policy: (layer) => policies[layer]!,
      ...methodOptions('rtn'),
    });
    const d = data(20, 51);
    cache.append(1, d.k, d.v, 20);
    cache.attend(1, d.q.slice(19 * QH), 19);
    const sums = policies[1]!.sums[0]!;
    expect(sums.length).toBe(20);
    expect(sums.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('keeps tokens a filter rule keeps at full precision', () => {
    const keepEven = { name: 'even', keeps: (p: number) => p % 7 === 0 };
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend: oracleBackend(),
      policy: () => fifoPolicy(4, 2, [keepEven]),
      pageTokens: 8,
      ...methodOptions('skvq'),
    });
    const d = data(40, 61);
    cache.append(0, d.k, d.v, 40);
    const layouts = cache.layouts(0);
    const sim = simulateCache(geometry, d.k, d.v, 40, {
      window: 4,
      sinks: 2,
      keysPreRope: true,
      layouts,
      keep: (p) => p % 7 === 0,
    });
    const got = cache.attend(0, d.q.slice(39 * QH), 39) as Float32Array;
    const want = referenceAttendOne(geometry, true, d.q, 39 * QH, 39, sim.keys, sim.values);
    expect(maxAbsDiff(got, want)).toBeLessThan(ORACLE_TOLERANCE);
    const desc = cache.describeLayer(0);
    expect(desc.sinks).toBe(2);
    expect(desc.kept).toBe(5); // 7, 14, 21, 28, 35
    expect(cache.bytes().keptFp).toBeGreaterThan(0);
  });

  it('rejects a policy that breaks the FIFO contract', () => {
    const cache = createQuantizedCache({
      geometry,
      fpPrecision: 'fp32', // the simulation models fp32 storage
      backend: oracleBackend(),
      policy: () => ({
        window: 2,
        sinks: 0,
        admit: () => ({ quantize: new Int32Array(0), keep: new Int32Array(0) }),
        reset() {},
      }),
      ...methodOptions('rtn'),
    });
    const d = data(5, 71);
    expect(() => cache.append(0, d.k, d.v, 5)).toThrow(/exactly once.*would stay in a window of 2/);
    expect(cache.length(0)).toBe(0);
  });

  it('accounts bytes of an SKVQ K2 V1.5 cache (fp16 window and sinks by default)', () => {
    const cache = createQuantizedCache({
      geometry,
      backend: oracleBackend(),
      policy: () => fifoPolicy(8, 3),
      pageTokens: 16,
      ...methodOptions('skvq'),
    });
    expect(cache.fpPrecision).toBe('fp16');
    const d = data(64, 81);
    cache.append(0, d.k, d.v, 64);
    const b = cache.bytes();
    const quantized = 64 - 8 - 3;
    // K: 2 bits -> CH/4 bytes a row; V: ternary 5 per byte -> ceil(CH/5).
    expect(b.codes).toBe(quantized * (CH / 4 + Math.ceil(CH / 5)));
    // fp8 scale + zero per group (2 groups) per stream; positions are contiguous, so none
    // are stored per token: the shared identity (64 positions in use) is counted once.
    expect(b.metadata).toBe(quantized * 2 * (2 * 2));
    expect(b.positions).toBe(64 * 4);
    expect(b.window).toBe(8 * 2 * CH * 2);
    expect(b.sinks).toBe(3 * 2 * CH * 2);
    // perm (Uint32 per channel) + 3 group offsets, per stream, per layer (2 layers).
    expect(b.permutations).toBe(2 * 2 * (4 * CH + 4 * 3));
    // slack: the free end of the last 16-token page per stream (the identity is full: 64)
    const lastPage = 16 - (quantized % 16);
    expect(b.pageSlack).toBe(lastPage * (CH / 4 + Math.ceil(CH / 5) + 2 * 2 * 2));
    expect(b.tokens).toBe(64);
    expect(b.bitsPerElement).toBeCloseTo((8 * b.total) / (64 * 2 * CH), 10);
  });

  it('stores out-of-order kept tokens with their own positions, and counts them', () => {
    const keepSevens: FilterRule = { name: 'sevens', keeps: (p: number) => p % 7 === 0 };
    const make = (rules: FilterRule[]) =>
      createQuantizedCache({
        geometry,
        backend: oracleBackend(),
        policy: () => fifoPolicy(4, 2, rules),
        ...methodOptions('rtn'),
      });
    const plain = make([]);
    const kept = make([keepSevens]);
    const d = data(40, 83);
    plain.append(0, d.k, d.v, 40);
    kept.append(0, d.k, d.v, 40);
    const segs = kept.segments(0).keys.filter((s) => s.kind === 'fp');
    const positions = segs.flatMap((s) => Array.from(s.positions));
    expect(positions.slice(0, 7)).toEqual([0, 1, 7, 14, 21, 28, 35]);
    // kept: 2 sinks in their own exact page; 7..35 (5 tokens) in an 8-token page with
    // its own Int32 positions: held 5 * 4 bytes, the 3 free slots are slack.
    const b = kept.bytes();
    expect(b.sinks).toBe(2 * 2 * CH * 2);
    expect(b.keptFp).toBe(5 * 2 * (CH * 2 + 4));
    expect(plain.bytes().keptFp).toBe(0);
  });

  it('fp32 storage (fpPrecision) doubles the window and sinks, the default is fp16', () => {
    const make = (fpPrecision?: 'fp32') =>
      createQuantizedCache({
        geometry,
        backend: oracleBackend(),
        policy: () => fifoPolicy(8, 3),
        ...(fpPrecision === undefined ? {} : { fpPrecision }),
        ...methodOptions('skvq'),
      });
    const [c16, c32] = [make(), make('fp32')];
    const d = data(30, 85);
    c16.append(0, d.k, d.v, 30);
    c32.append(0, d.k, d.v, 30);
    expect(c32.bytes().window).toBe(2 * c16.bytes().window);
    expect(c32.bytes().sinks).toBe(2 * c16.bytes().sinks);
    const q = d.q.slice(29 * QH);
    // fp16 rounding of window and sinks only: close, not equal
    const diff = maxAbsDiff(
      c16.attend(0, q, 29) as Float32Array,
      c32.attend(0, q, 29) as Float32Array,
    );
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(1e-2);
  });
});

describe('asynchronous backends (GPU-style kernels returning promises)', () => {
  it('append and attend resolve to the same results as with synchronous kernels', async () => {
    const sync = oracleBackend();
    const asyncBackend = {
      ...sync,
      name: 'async-oracle',
      kernels: Object.fromEntries(
        Object.entries(sync.kernels).map(([name, fn]) => [
          name,
          (...args: any[]) =>
            new Promise((resolve) => setTimeout(() => resolve((fn as any)(...args)), 1)),
        ]),
      ),
    };
    const make = (backend: typeof sync) =>
      createQuantizedCache({
        geometry,
        fpPrecision: 'fp32', // the simulation models fp32 storage
        backend,
        policy: () => fifoPolicy(8, 2),
        pageTokens: 32,
        ...methodOptions('kivi-k+skvq-v'),
      });
    const a = make(sync);
    const b = make(asyncBackend);
    const d = data(100, 91);
    a.append(0, d.k, d.v, 100);
    const pending = b.append(0, d.k, d.v, 100);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    const q = d.q.slice(99 * QH);
    const got = b.attend(0, q, 99);
    expect(got).toBeInstanceOf(Promise);
    expect(await got).toEqual(a.attend(0, q, 99));
    expect(await b.attendPrefill(0, d.q.slice(90 * QH), 90, 10)).toEqual(
      a.attendPrefill(0, d.q.slice(90 * QH), 90, 10),
    );
  });
});
