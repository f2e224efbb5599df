import {
  type AttendInputs,
  type AttentionAttrs,
  type BitWidth,
  backendStorage,
  type KvSegment,
  kvHidden,
  queryHidden,
  SkvqError,
} from '@skvq/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '../src/index.js';
import { positionShares, rowShares } from '../src/threads/split.js';
import {
  geometry,
  normals,
  type Piece,
  relErr,
  rng,
  segments,
  tokenGroupLayout,
} from './helpers.js';
import { workerUrlFromSources } from './worker-from-sources.js';

/**
 * The threaded backend against the single-thread one: split-K decode merges float64 parts
 * in another order, so outputs differ by rounding only (~1e-7); prefill rows are computed
 * by the same kernel, so they are bit identical. minWorkPerThread 1 forces every job onto
 * the threads, with lengths no thread count divides and segments straddling the cuts.
 */
const TOLERANCE = 1e-5;

const single = createCpuBackend({ threads: 1 });
const backends = [2, 3].map((threads) => ({
  threads,
  // copyUnshared: the 'plain memory' cases go to the threads too (as copies).
  backend: createCpuBackend({
    threads,
    minWorkPerThread: 1,
    copyUnshared: true,
    workerUrl: workerUrlFromSources(),
  }),
}));
const plainJs = createCpuBackend({
  threads: 3,
  fused: false,
  minWorkPerThread: 1,
  copyUnshared: true,
  workerUrl: workerUrlFromSources(),
});
afterAll(async () => {
  for (const { backend } of backends) await backend.dispose?.();
  await plainJs.dispose?.();
});

/** The same segments with every array copied into SharedArrayBuffer memory. */
function shared(list: readonly KvSegment[]): KvSegment[] {
  const share = <T extends Float32Array | Uint16Array | Uint8Array | Int32Array>(a: T): T => {
    const ctor = a.constructor as new (b: SharedArrayBuffer) => T;
    const copy = new ctor(new SharedArrayBuffer(a.byteLength));
    copy.set(a as never);
    return copy;
  };
  return list.map((seg) =>
    seg.kind === 'fp'
      ? ({ ...seg, data: share(seg.data), positions: share(seg.positions) } as KvSegment)
      : { ...seg, codes: share(seg.codes), meta: share(seg.meta), positions: share(seg.positions) },
  );
}

function makeJob(seed: number, headDim: number, bits: BitWidth, memory: 'plain' | 'shared') {
  const r = rng(seed);
  const g = geometry(8, 4, headDim, 'half');
  const channels = kvHidden(g);
  // 3 sinks, 37 packed tokens (token-group keys, channel-block keys of 8 tokens), 9 fp16.
  const length = 3 + 40 + 9;
  const k = normals(r, length * channels, 2);
  const v = normals(r, length * channels);
  const keyPieces: Piece[] = [
    { kind: 'fp32', count: 3 },
    { kind: 'packed', count: 17, layout: tokenGroupLayout(r, channels, bits, 'fp8e4m3', 3) },
    {
      kind: 'packed',
      count: 16,
      layout: { kind: 'channel-block', channels, bits: 2, meta: 'fp16', blockTokens: 8, alpha: 1 },
    },
    { kind: 'fp16', count: 16 },
  ];
  const valuePieces: Piece[] = [
    { kind: 'fp16', count: 3 },
    { kind: 'packed', count: 40, layout: tokenGroupLayout(r, channels, bits, 'fp16', 4) },
    { kind: 'fp32', count: 9 },
  ];
  let keys = segments(k, g, keyPieces);
  let values = segments(v, g, valuePieces);
  if (memory === 'shared') {
    keys = shared(keys);
    values = shared(values);
  }
  const attrs: AttentionAttrs = { geometry: g, keysPreRope: true };
  return { g, keys, values, length, attrs, q: normals(r, 6 * queryHidden(g)) };
}

describe('threaded cpu backend', () => {
  for (const memory of ['plain', 'shared'] as const) {
    for (const bits of [2, 1.5, 4] as const) {
      for (const headDim of [16, 12]) {
        it(`decode equals one thread: ${bits} bits, head dim ${headDim}${headDim % 8 ? ' (JavaScript partials)' : ''}, ${memory} memory`, async () => {
          const { keys, values, length, attrs, q, g } = makeJob(
            headDim + bits * 7,
            headDim,
            bits,
            memory,
          );
          const job: AttendInputs = {
            q: q.subarray(0, queryHidden(g)),
            start: length + 2,
            rows: 1,
            causal: false,
            keys,
            values,
            length,
          };
          const want = single.kernels.attend?.(job, attrs) as Float32Array;
          expect(want).toBeInstanceOf(Float32Array);
          for (const { threads, backend } of [...backends, { threads: 3, backend: plainJs }]) {
            const pending = backend.kernels.attend?.(job, attrs);
            expect(pending, 'a threaded job returns a Promise').toBeInstanceOf(Promise);
            const got = await pending;
            expect(relErr(got as Float32Array, want), `${threads} threads`).toBeLessThan(TOLERANCE);
          }
        });
      }
    }
    it(`prefill rows equal one thread, with attention sums (${memory} memory)`, async () => {
      const { keys, values, length, attrs, q, g } = makeJob(99, 16, 2, memory);
      const rows = 6;
      const start = length - rows;
      const wantSums = new Float32Array(length);
      const want = single.kernels.attend?.(
        { q, start, rows, causal: true, keys, values, length, attentionSums: wantSums },
        attrs,
      ) as Float32Array;
      for (const { threads, backend } of backends) {
        const sums = new Float32Array(length);
        const pending = backend.kernels.attend?.(
          { q, start, rows, causal: true, keys, values, length, attentionSums: sums },
          attrs,
        );
        expect(pending).toBeInstanceOf(Promise);
        expect(Array.from((await pending) as Float32Array), `${threads} threads`).toEqual(
          Array.from(want),
        );
        expect(relErr(sums, wantSums)).toBeLessThan(TOLERANCE);
        expect(queryHidden(g) * rows).toBe(want.length);
      }
    });
  }

  it('decode with attention sums: the same probabilities as one thread', async () => {
    for (const headDim of [16, 12]) {
      const { keys, values, length, attrs, q, g } = makeJob(5 + headDim, headDim, 2, 'shared');
      const job = {
        q: q.subarray(0, queryHidden(g)),
        start: length,
        rows: 1,
        causal: false,
        keys,
        values,
        length,
      };
      const wantSums = new Float32Array(length).fill(0.5);
      const want = single.kernels.attend?.(
        { ...job, attentionSums: wantSums },
        attrs,
      ) as Float32Array;
      for (const { threads, backend } of [...backends, { threads: 3, backend: plainJs }]) {
        const sums = new Float32Array(length).fill(0.5);
        const pending = backend.kernels.attend?.({ ...job, attentionSums: sums }, attrs);
        expect(pending).toBeInstanceOf(Promise);
        expect(relErr((await pending) as Float32Array, want)).toBeLessThan(TOLERANCE);
        expect(relErr(sums, wantSums), `${threads} threads, head dim ${headDim}`).toBeLessThan(
          TOLERANCE,
        );
      }
    }
  });

  it('keeps small jobs, and unshared segments, on the calling thread (synchronous)', async () => {
    const { keys, values, length, attrs, q, g } = makeJob(6, 16, 2, 'shared');
    const job = {
      q: q.subarray(0, queryHidden(g)),
      start: length,
      rows: 1,
      causal: false,
      keys,
      values,
      length,
    };
    const want = single.kernels.attend?.(job, attrs) as Float32Array;
    // The default threshold keeps a 52-position decode here.
    const defaults = createCpuBackend({ threads: 2, workerUrl: workerUrlFromSources() });
    const got = defaults.kernels.attend?.(job, attrs);
    expect(got).toBeInstanceOf(Float32Array);
    expect(relErr(got as Float32Array, want)).toBe(0);
    // Segments outside shared memory stay on this thread unless copyUnshared.
    const plain = makeJob(6, 16, 2, 'plain');
    const noCopy = createCpuBackend({
      threads: 2,
      minWorkPerThread: 1,
      workerUrl: workerUrlFromSources(),
    });
    const plainJob = { ...job, keys: plain.keys, values: plain.values };
    expect(noCopy.kernels.attend?.(plainJob, attrs)).toBeInstanceOf(Float32Array);
    const threaded = noCopy.kernels.attend?.(job, attrs);
    expect(threaded).toBeInstanceOf(Promise);
    expect(relErr((await threaded) as Float32Array, want)).toBeLessThan(TOLERANCE);
    await noCopy.dispose?.();
  });

  it('dispose() terminates the workers: a pending job rejects, a later one starts new ones', async () => {
    const { keys, values, length, attrs, q, g } = makeJob(8, 16, 2, 'shared');
    const job = {
      q: q.subarray(0, queryHidden(g)),
      start: length,
      rows: 1,
      causal: false,
      keys,
      values,
      length,
    };
    const want = single.kernels.attend?.(job, attrs) as Float32Array;
    const backend = createCpuBackend({
      threads: 2,
      minWorkPerThread: 1,
      workerUrl: workerUrlFromSources(),
    });
    const pending = Promise.resolve(backend.kernels.attend?.(job, attrs));
    await backend.dispose?.();
    await expect(pending).rejects.toMatchObject({ code: 'BACKEND_DEVICE_ERROR' });
    expect(relErr((await backend.kernels.attend?.(job, attrs)) as Float32Array, want)).toBeLessThan(
      TOLERANCE,
    );
    await backend.dispose?.();
  });

  it('rejects (never hangs) when the worker script cannot load', async () => {
    const { keys, values, length, attrs, q, g } = makeJob(9, 16, 2, 'shared');
    const job = {
      q: q.subarray(0, queryHidden(g)),
      start: length,
      rows: 1,
      causal: false,
      keys,
      values,
      length,
    };
    const broken = createCpuBackend({
      threads: 2,
      minWorkPerThread: 1,
      workerUrl: new URL('./no-such-worker.mjs', import.meta.url),
    });
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(Promise.resolve(broken.kernels.attend?.(job, attrs))).rejects.toMatchObject({
        code: 'BACKEND_DEVICE_ERROR',
        message: expect.stringMatching(/cpu worker failed/),
      });
    }
    await broken.dispose?.();
  });

  it('rejects with the single-thread error when a worker finds a bad code byte', async () => {
    const { keys, values, length, attrs, q, g } = makeJob(7, 16, 1.5, 'shared');
    // A byte above 242 is no 5-trit code: put one in the last packed value token (a worker's).
    const page = values[1] as KvSegment & { kind: 'packed' };
    page.codes[page.codes.length - 1] = 250;
    const job = {
      q: q.subarray(0, queryHidden(g)),
      start: length,
      rows: 1,
      causal: false,
      keys,
      values,
      length,
    };
    let expected: unknown;
    try {
      single.kernels.attend?.(job, attrs);
    } catch (error) {
      expected = error;
    }
    expect(expected).toBeInstanceOf(SkvqError);
    const backend = backends[0]?.backend;
    await expect(Promise.resolve(backend?.kernels.attend?.(job, attrs))).rejects.toMatchObject({
      code: (expected as SkvqError).code,
    });
  });

  it('declares shared host storage, labels its threads, and validates its options', () => {
    const backend = backends[0]?.backend;
    expect(backend?.label?.()).toBe('cpu (WebAssembly SIMD decode, 2 threads)');
    const buffer = backendStorage(backend as never).allocate(64, 'codes');
    expect(buffer.host?.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(single.storage).toBeUndefined();
    expect(single.label?.()).toBe('cpu (WebAssembly SIMD decode)');
    // From the TypeScript sources there is no built worker script: one thread, and why.
    const noScript = createCpuBackend({ threads: 2 });
    expect(noScript.label?.()).toMatch(/1 thread: no cpu-worker\.js next to this module/);
    expect(noScript.storage).toBeUndefined();
    for (const threads of [0, 1.5, -1]) {
      expect(() => createCpuBackend({ threads })).toThrow(/threads must be an integer >= 1/);
    }
    expect(() => createCpuBackend({ minWorkPerThread: 0 })).toThrow(/minWorkPerThread/);
  });
});

describe('threaded job shares', () => {
  it('cut positions into ranges, moving a cut inside a channel-block unit to its start', () => {
    const { keys, values, length, g } = makeJob(3, 16, 2, 'plain');
    for (const pieces of [2, 3, 4, 5]) {
      const shares = positionShares(keys, values, length, pieces, kvHidden(g)) ?? [];
      expect(shares.length).toBeGreaterThan(1);
      const seen = { keys: new Set<number>(), values: new Set<number>() };
      for (const share of shares) {
        const pos = (list: KvSegment[]) => list.flatMap((s) => Array.from(s.positions));
        const kp = pos(share.keys).sort((a, b) => a - b);
        expect(pos(share.values).sort((a, b) => a - b)).toEqual(kp);
        for (const p of kp) seen.keys.add(p);
        for (const seg of share.keys) {
          if (seg.kind === 'packed' && seg.layout.kind === 'channel-block') {
            expect(seg.count % 8).toBe(0);
          }
        }
      }
      expect(seen.keys.size).toBe(length);
    }
    const unsorted = keys.map((s) => ({ ...s, positions: s.positions.slice().reverse() }));
    expect(positionShares(unsorted, values, length, 2, kvHidden(g))).toBeNull();
  });

  it('cut causal rows into ranges of about equal work', () => {
    const shares = rowShares(100, 0, true, 100, 2);
    expect(shares.map(([, n]) => n).reduce((a, b) => a + b)).toBe(100);
    // Rows 0..70 hold about half of the 5050 (row, position) pairs.
    expect(shares[0]?.[1]).toBeGreaterThan(65);
    expect(rowShares(3, 10, true, 13, 5)).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
  });
});
