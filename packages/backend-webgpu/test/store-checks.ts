import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type AttentionAttrs,
  type BitWidth,
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  type KvGeometry,
  type KvSegment,
  type MetaFormat,
  metaBytesPerUnit,
  queryHidden,
  rowCodeBytes,
  type StoreSegment,
  type StoreView,
  type TokenGroupLayout,
  type TransferStats,
} from '@skvq/core';
import {
  decodeFp16,
  encodeFp16,
  quantizeBlockReference,
  quantizeTokensReference,
} from '@skvq/formats';
import { createWebgpuBackend, type WebgpuBackend } from '../src/index.js';
import { DecodeSim } from './decode-sim.js';
import { activations, permutation, rng } from './random-data.js';
import { cacheFixture } from './segments-fixture.js';
import { bytesOf, place, toStore } from './store-fixture.js';

/**
 * The store checks of the WebGPU backend, written without a test runner so that the same
 * checks run under vitest in Node (Mesa) and on a page in headless Chromium (SwiftShader):
 * each `run` throws on a failure and returns a line for the log.
 */
export interface StoreCheck {
  name: string;
  run(backend: WebgpuBackend): Promise<string>;
}

/** Float32 GPU attention against the float64 reference (the package's tolerance). */
export const ATTENTION_TOLERANCE = 1e-4;

type AttendReference = (
  inputs: {
    q: Float32Array;
    position?: number;
    start?: number;
    count?: number;
    keys: readonly KvSegment[];
    values: readonly KvSegment[];
    length: number;
    attentionSums?: Float32Array;
  },
  attrs: AttentionAttrs,
) => Float32Array;
const attendDecodeReference = cpuReferenceBackend.kernels
  .attendDecode as unknown as AttendReference;
const attendPrefillReference = cpuReferenceBackend.kernels
  .attendPrefill as unknown as AttendReference;

function fail(message: string): never {
  throw new Error(message);
}

function expectBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  if (got.length !== want.length) fail(`${what}: ${got.length} bytes, want ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) fail(`${what}: byte ${i} is ${got[i]}, want ${want[i]}`);
  }
}

export function maxRelativeError(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let scale = 0;
  for (const w of want) scale = Math.max(scale, Math.abs(w));
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((got[i] as number) - (want[i] as number));
    err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
  }
  return err / scale;
}

function expectClose(got: Float32Array, want: Float32Array, what: string): number {
  const e = maxRelativeError(got, want);
  if (!(e < ATTENTION_TOLERANCE)) fail(`${what}: relative error ${e} >= ${ATTENTION_TOLERANCE}`);
  return e;
}

async function expectCode(
  p: Promise<unknown> | unknown,
  code: string,
  what: string,
): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  const got = (error as { code?: string } | undefined)?.code;
  if (got !== code)
    fail(
      `${what}: want a ${code} error, got ${error === undefined ? 'none' : `${got}: ${String(error)}`}`,
    );
}

function delta(after: TransferStats, before: TransferStats): TransferStats {
  return {
    bytesToDevice: after.bytesToDevice - before.bytesToDevice,
    bytesFromDevice: after.bytesFromDevice - before.bytesFromDevice,
  };
}

function randomBytes(random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

const fp16Round = (x: Float32Array) => x.map((v) => decodeFp16(encodeFp16(v)));
const fp16Bits = (x: Float32Array) => Uint16Array.from(x, (v) => encodeFp16(v));

function tokenLayout(
  C: number,
  bits: BitWidth,
  meta: MetaFormat,
  random: () => number,
): TokenGroupLayout {
  return {
    kind: 'token-group',
    channels: C,
    bits,
    meta,
    perm: permutation(random, C),
    groupOffsets: C === 45 ? new Uint32Array([0, 5, 19, 20, 33, 45]) : contiguousGroupOffsets(C, 8),
    alpha: 0.9,
  };
}

async function storageRoundTrip(backend: WebgpuBackend): Promise<string> {
  const s = backend.storage;
  const random = rng(101);
  const before = s.transferStats();
  const a = s.allocate(100, 'fp');
  expectBytes(
    await s.read({ buffer: a, byteOffset: 0, byteLength: 100 }),
    new Uint8Array(100),
    'a new buffer',
  );
  const model = new Uint8Array(100);
  const writes: [number, number][] = [
    [8, 40], // aligned: queue.writeBuffer
    [13, 37], // unaligned start and length: upload + scatter pass
    [50, 2],
    [98, 2],
  ];
  for (const [at, n] of writes) {
    const data = randomBytes(random, n);
    s.write(a, at, data);
    model.set(data, at);
  }
  expectBytes(await s.read({ buffer: a, byteOffset: 0, byteLength: 100 }), model, 'after writes');
  expectBytes(
    await s.read({ buffer: a, byteOffset: 5, byteLength: 50 }),
    model.slice(5, 55),
    'a sub-view',
  );
  const b = s.allocate(64, 'codes');
  const bModel = new Uint8Array(64);
  s.copy({ buffer: a, byteOffset: 13, byteLength: 37 }, b, 6); // unaligned
  bModel.set(model.subarray(13, 50), 6);
  s.copy({ buffer: a, byteOffset: 8, byteLength: 8 }, b, 48); // aligned: copyBufferToBuffer
  bModel.set(model.subarray(8, 16), 48);
  expectBytes(await s.read({ buffer: b, byteOffset: 0, byteLength: 64 }), bModel, 'after copies');
  // A released range comes back zeroed.
  s.release(a);
  const c = s.allocate(100, 'meta');
  expectBytes(
    await s.read({ buffer: c, byteOffset: 0, byteLength: 100 }),
    new Uint8Array(100),
    'a reused range',
  );
  const stats = delta(s.transferStats(), before);
  if (stats.bytesToDevice < 40 + 37 + 2 + 2)
    fail(`bytesToDevice ${stats.bytesToDevice} misses the writes`);
  if (stats.bytesFromDevice < 100 + 50 + 64 + 100)
    fail(`bytesFromDevice ${stats.bytesFromDevice} misses the reads`);
  await expectCode(
    Promise.resolve().then(() => s.allocate(6, 'fp')),
    'INVALID_ARGUMENT',
    'allocate(6)',
  );
  await expectCode(
    Promise.resolve().then(() => s.write(b, 60, new Uint8Array(8))),
    'INVALID_ARGUMENT',
    'a write past the end',
  );
  await expectCode(
    Promise.resolve().then(() => s.read({ buffer: a, byteOffset: 0, byteLength: 4 })),
    'INVALID_ARGUMENT',
    'reading a released buffer',
  );
  s.release(b);
  s.release(c);
  return `round trips exact; moved ${stats.bytesToDevice} B up, ${stats.bytesFromDevice} B down`;
}

async function storageArenas(backend: WebgpuBackend): Promise<string> {
  // Small arenas on the same device: buffers spread over several, copies cross them, and
  // an arena that grows keeps its bytes.
  const small = createWebgpuBackend({ device: backend.context().device, arenaBytes: 4096 });
  await small.init?.();
  try {
    const s = small.storage;
    const random = rng(102);
    const held: { view: StoreView; bytes: Uint8Array }[] = [];
    for (let i = 0; i < 5; i++) {
      const bytes = randomBytes(random, 1500);
      const buffer = s.allocate(1504 + 4 * i, 'codes');
      s.write(buffer, 2, bytes);
      held.push({ view: { buffer, byteOffset: 2, byteLength: 1500 }, bytes });
    }
    if (s.arenaCount() < 2) fail(`5 x 1.5 KB in 4 KB arenas used ${s.arenaCount()} arena(s)`);
    const dst = s.allocate(1504, 'codes');
    s.copy((held[0] as { view: StoreView }).view, dst, 1);
    for (const h of held)
      expectBytes(await s.read(h.view), h.bytes, 'a buffer among several arenas');
    expectBytes(
      await s.read({ buffer: dst, byteOffset: 1, byteLength: 1500 }),
      (held[0] as { bytes: Uint8Array }).bytes,
      'a copy across arenas',
    );
    const tooBig = Promise.resolve().then(() => s.allocate(8192, 'codes'));
    await expectCode(tooBig, 'INVALID_ARGUMENT', 'a buffer larger than an arena');
  } finally {
    await small.dispose?.();
  }
  const s = backend.storage;
  const random = rng(103);
  const first = randomBytes(random, 4000);
  const a = s.allocate(4000, 'fp');
  s.write(a, 0, first);
  // More than the first arena's initial 1 MiB: the arena doubles (a device-side copy).
  const big = s.allocate(1_600_000, 'fp');
  const tail = randomBytes(random, 64);
  s.write(big, 1_600_000 - 64, tail);
  expectBytes(
    await s.read({ buffer: a, byteOffset: 0, byteLength: 4000 }),
    first,
    'bytes after a growth',
  );
  expectBytes(
    await s.read({ buffer: big, byteOffset: 1_600_000 - 64, byteLength: 64 }),
    tail,
    'the grown range',
  );
  s.release(a);
  s.release(big);
  return 'several arenas, cross-arena copies, growth keep every byte';
}

/** A page buffer pre-filled with junk, and its host mirror. */
function page(
  backend: WebgpuBackend,
  bytes: number,
  fill: number,
): { view: StoreView; host: Uint8Array } {
  const host = new Uint8Array(bytes).fill(fill);
  const view = place(backend.storage, host, 4);
  return { view, host };
}

async function readAll(backend: WebgpuBackend, view: StoreView): Promise<Uint8Array> {
  return backend.storage.read(view);
}

function sub(view: StoreView, byteOffset: number, byteLength: number): StoreView {
  return { buffer: view.buffer, byteOffset: view.byteOffset + byteOffset, byteLength };
}

type Source = 'host' | 'fp32 rows' | 'fp16 rows';

function xFor(backend: WebgpuBackend, x: Float32Array, source: Source) {
  if (source === 'host') return { x, want: x };
  if (source === 'fp32 rows') {
    return {
      x: { view: place(backend.storage, bytesOf(x), 20), precision: 'fp32' as const },
      want: x,
    };
  }
  return {
    x: { view: place(backend.storage, bytesOf(fp16Bits(x)), 22), precision: 'fp16' as const },
    want: fp16Round(x),
  };
}

const TOKEN_CASES: { bits: BitWidth; meta: MetaFormat; source: Source }[] = [
  { bits: 3, meta: 'fp8e4m3', source: 'fp16 rows' },
  { bits: 1.5, meta: 'fp16', source: 'fp32 rows' },
  { bits: 2, meta: 'fp32', source: 'host' },
  { bits: 4, meta: 'fp8e4m3', source: 'fp32 rows' },
];

async function quantizeTokensExact(
  backend: WebgpuBackend,
  c: (typeof TOKEN_CASES)[number],
): Promise<string> {
  const C = 45; // rows of 45 codes are not 4-byte aligned at any bit width
  const random = rng(200 + C + c.bits * 10 + c.meta.length);
  const layout = tokenLayout(C, c.bits, c.meta, random);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const T = 12;
  const codes = page(backend, T * rowBytes + 8, 0x3c);
  const meta = page(backend, T * metaBytes + 8, 0x77);
  // Two batches: tokens 1..5 then 6..10, at row offsets inside the page (mid-word).
  let done = 1;
  for (const n of [5, 5]) {
    const x = activations(random, n, C);
    const { x: xs, want } = xFor(backend, x, c.source);
    quantizeTokensReference(
      layout,
      want,
      n,
      codes.host,
      done * rowBytes,
      meta.host,
      done * metaBytes,
    );
    await backend.storage.kernels.quantizeTokens?.({
      layout,
      x: xs,
      count: n,
      codes: sub(codes.view, done * rowBytes, n * rowBytes),
      meta: sub(meta.view, done * metaBytes, n * metaBytes),
    });
    done += n;
  }
  expectBytes(await readAll(backend, codes.view), codes.host, 'codes page');
  expectBytes(await readAll(backend, meta.view), meta.host, 'meta page');
  return `${done - 1} tokens, rows of ${rowBytes} B, bit exact`;
}

async function quantizeBlockExact(
  backend: WebgpuBackend,
  bits: BitWidth,
  meta: MetaFormat,
  source: Source,
): Promise<string> {
  const random = rng(300 + bits * 7 + meta.length);
  const layout: ChannelBlockLayout = {
    kind: 'channel-block',
    channels: 37,
    bits,
    meta,
    blockTokens: 8,
    alpha: 1,
  };
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const codes = page(backend, 2 * 8 * rowBytes + 6, 0x11);
  const metas = page(backend, 2 * metaBytes + 6, 0x22);
  for (let blk = 0; blk < 2; blk++) {
    const x = activations(random, 8, 37);
    const { x: xs, want } = xFor(backend, x, source);
    quantizeBlockReference(
      layout,
      want,
      0,
      codes.host,
      2 + blk * 8 * rowBytes,
      metas.host,
      2 + blk * metaBytes,
    );
    await backend.storage.kernels.quantizeBlock?.({
      layout,
      x: xs,
      codes: sub(codes.view, 2 + blk * 8 * rowBytes, 8 * rowBytes),
      meta: sub(metas.view, 2 + blk * metaBytes, metaBytes),
    });
  }
  expectBytes(await readAll(backend, codes.view), codes.host, 'block codes');
  expectBytes(await readAll(backend, metas.view), metas.host, 'block meta');
  return `2 blocks of 8 x 37, bit exact`;
}

async function quantizeErrors(backend: WebgpuBackend): Promise<string> {
  const random = rng(400);
  const C = 32;
  const layout = tokenLayout(C, 2, 'fp8e4m3', random);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const codes = page(backend, 4 * rowBytes, 0x5a);
  const meta = page(backend, 4 * metaBytes, 0x5a);
  // Non-finite rows already on the device: nothing is written.
  const x = activations(random, 3, C);
  x[C + 3] = Number.POSITIVE_INFINITY;
  const rows = { view: place(backend.storage, bytesOf(x)), precision: 'fp32' as const };
  await expectCode(
    backend.storage.kernels.quantizeTokens?.({
      layout,
      x: rows,
      count: 3,
      codes: codes.view,
      meta: meta.view,
    }),
    'NON_FINITE_INPUT',
    'an Infinity in device rows',
  );
  expectBytes(await readAll(backend, codes.view), codes.host, 'codes after a rejected batch');
  // Beyond fp8's range at token 1: like the reference, token 0 is written, then it throws.
  const big = activations(random, 3, C);
  for (let ch = 0; ch < C; ch++) big[C + ch] = 1e6 * (ch % 2 === 0 ? 1 : -1);
  let refCode: string | undefined;
  try {
    quantizeTokensReference(layout, big, 3, codes.host, 0, meta.host, 0);
  } catch (e) {
    refCode = (e as { code?: string }).code;
  }
  if (refCode === undefined) fail('the reference accepted out-of-range activations');
  await expectCode(
    backend.storage.kernels.quantizeTokens?.({
      layout,
      x: { view: place(backend.storage, bytesOf(big)), precision: 'fp32' },
      count: 3,
      codes: codes.view,
      meta: meta.view,
    }),
    refCode,
    'a scale beyond fp8',
  );
  expectBytes(await readAll(backend, codes.view), codes.host, 'codes after a range error');
  expectBytes(await readAll(backend, meta.view), meta.host, 'meta after a range error');
  return `non-finite rows: NON_FINITE_INPUT, nothing written; fp8 overflow: ${refCode}, earlier tokens written`;
}

const GEOMETRIES: { name: string; geometry: KvGeometry }[] = [
  {
    name: 'GQA 4/2, pairwise RoPE',
    geometry: {
      layers: 1,
      queryHeads: 4,
      kvHeads: 2,
      headDim: 16,
      rope: { style: 'pairwise', theta: 10000 },
    },
  },
  {
    name: 'MHA 2/2, half RoPE',
    geometry: {
      layers: 1,
      queryHeads: 2,
      kvHeads: 2,
      headDim: 16,
      rope: { style: 'half', theta: 500000 },
    },
  },
];

async function attendDecodeStore(backend: WebgpuBackend, geometry: KvGeometry): Promise<string> {
  const C = geometry.kvHeads * geometry.headDim;
  const random = rng(500 + geometry.queryHeads);
  const length = 4 * backend.context().workgroupSize + 37; // several split-K chunks
  const cache = cacheFixture(random, C, length, {
    keyKind: 'token-group',
    kBits: 2,
    vBits: 1.5,
    meta: 'fp8e4m3',
  });
  const keys = cache.keys.map((s) => toStore(backend.storage, s));
  // Ternary rows of 7 bytes: the second part of each value page starts mid-word.
  const values = splitPages(
    cache.values.map((s) => toStore(backend.storage, s)),
    3,
  );
  const q = new Float32Array(queryHidden(geometry)).map(() => random() * 2 - 1);
  const attrs: AttentionAttrs = { geometry, keysPreRope: true };
  const sumsWant = new Float32Array(length);
  const sumsGot = new Float32Array(length);
  const want = attendDecodeReference(
    { q, position: length - 1, ...cache, attentionSums: sumsWant },
    attrs,
  );
  const job = { q, start: length - 1, rows: 1, causal: false, keys, values, length };
  const got = await backend.storage.kernels.attend({ ...job, attentionSums: sumsGot }, attrs);
  const e = expectClose(got, want, 'decode output');
  expectClose(sumsGot, sumsWant, 'attention sums');
  // The same segments again: the tables are on the device already, so only the query and
  // the uniforms go up and only the output comes back.
  const before = backend.transferStats();
  const again = await backend.storage.kernels.attend(job, attrs);
  const moved = delta(backend.transferStats(), before);
  expectBytes(bytesOf(again), bytesOf(got), 'a repeated call');
  const qBytes = queryHidden(geometry) * 4;
  if (moved.bytesToDevice !== qBytes + 64 || moved.bytesFromDevice !== qBytes) {
    fail(
      `a repeated call moved ${JSON.stringify(moved)}; want ${qBytes + 64} up (q + uniforms), ${qBytes} down`,
    );
  }
  return `relative error ${e.toExponential(2)}; a repeated call moved ${moved.bytesToDevice} B up, ${moved.bytesFromDevice} B down`;
}

async function attendKiviStore(backend: WebgpuBackend): Promise<string> {
  const geometry = (GEOMETRIES[0] as { geometry: KvGeometry }).geometry;
  const random = rng(510);
  const cache = cacheFixture(random, 32, 61, {
    keyKind: 'channel-block',
    kBits: 2,
    vBits: 4,
    meta: 'fp16',
  });
  const keys = cache.keys.map((s) => toStore(backend.storage, s));
  const values = cache.values.map((s) => toStore(backend.storage, s));
  const q = new Float32Array(queryHidden(geometry)).map(() => random() * 2 - 1);
  const attrs: AttentionAttrs = { geometry, keysPreRope: false, scale: 0.3 };
  const want = attendDecodeReference({ q, position: 60, ...cache }, attrs);
  const got = await backend.storage.kernels.attend(
    { q, start: 60, rows: 1, causal: false, keys, values, length: 61 },
    attrs,
  );
  return `relative error ${expectClose(got, want, 'KIVI decode').toExponential(2)}`;
}

/**
 * Splits every packed segment at token `at` into two whose views start mid-page: code rows
 * of odd byte lengths then start at unaligned offsets (the readers address codes by byte).
 */
function splitPages(segments: StoreSegment[], at: number): StoreSegment[] {
  return segments.flatMap((seg): StoreSegment[] => {
    if (seg.kind !== 'packed' || seg.layout.kind !== 'token-group' || seg.count <= at) return [seg];
    const rb = rowCodeBytes(seg.layout);
    const mb = metaBytesPerUnit(seg.layout);
    const tail = (view: StoreView, bytes: number): StoreView => ({
      buffer: view.buffer,
      byteOffset: view.byteOffset + bytes,
      byteLength: view.byteLength - bytes,
    });
    return [
      { ...seg, count: at, positions: seg.positions.subarray(0, at) },
      {
        ...seg,
        count: seg.count - at,
        codes: tail(seg.codes, at * rb),
        meta: tail(seg.meta, at * mb),
        positions: seg.positions.subarray(at),
      },
    ];
  });
}

async function attendAcrossArenas(backend: WebgpuBackend): Promise<string> {
  // 2 KiB arenas: the segments of each stream land in several, so the call gathers them
  // into one scratch buffer on the device (the fallback) and must still be exact.
  const small = createWebgpuBackend({ device: backend.context().device, arenaBytes: 2048 });
  await small.init?.();
  try {
    const geometry = (GEOMETRIES[0] as { geometry: KvGeometry }).geometry;
    const random = rng(530);
    const length = 150;
    const cache = cacheFixture(random, 32, length, {
      keyKind: 'token-group',
      kBits: 2,
      vBits: 1.5,
      meta: 'fp8e4m3',
    });
    const keys = splitPages(
      cache.keys.map((seg) => toStore(small.storage, seg)),
      5,
    );
    // Ternary rows of 7 bytes: the second half of each value page starts mid-word.
    const values = splitPages(
      cache.values.map((seg) => toStore(small.storage, seg)),
      3,
    );
    if (small.storage.arenaCount() < 3)
      fail(`the fixture used ${small.storage.arenaCount()} arenas`);
    const q = new Float32Array(queryHidden(geometry)).map(() => random() * 2 - 1);
    const attrs: AttentionAttrs = { geometry, keysPreRope: true };
    const want = attendDecodeReference({ q, position: length - 1, ...cache }, attrs);
    const job = { q, start: length - 1, rows: 1, causal: false, keys, values, length };
    const got = await small.storage.kernels.attend(job, attrs);
    const again = await small.storage.kernels.attend(job, attrs);
    expectBytes(bytesOf(again), bytesOf(got), 'a repeated gathered call');
    return `${small.storage.arenaCount()} arenas; relative error ${expectClose(got, want, 'gathered decode').toExponential(2)}`;
  } finally {
    await small.dispose?.();
  }
}

async function attendPrefillStore(backend: WebgpuBackend): Promise<string> {
  const geometry = (GEOMETRIES[0] as { geometry: KvGeometry }).geometry;
  const random = rng(520);
  const length = 40;
  const cache = cacheFixture(random, 32, length, {
    keyKind: 'token-group',
    kBits: 3,
    vBits: 8,
    meta: 'fp32',
  });
  const keys = cache.keys.map((s) => toStore(backend.storage, s));
  const values = cache.values.map((s) => toStore(backend.storage, s));
  const count = 6;
  const start = length - count;
  const q = new Float32Array(count * queryHidden(geometry)).map(() => random() * 2 - 1);
  const attrs: AttentionAttrs = { geometry, keysPreRope: true };
  const sumsWant = new Float32Array(length);
  const sumsGot = new Float32Array(length);
  const want = attendPrefillReference(
    { q, start, count, ...cache, attentionSums: sumsWant },
    attrs,
  );
  const got = await backend.storage.kernels.attend(
    { q, start, rows: count, causal: true, keys, values, length, attentionSums: sumsGot },
    attrs,
  );
  const e = expectClose(got, want, 'prefill output');
  expectClose(sumsGot, sumsWant, 'prefill attention sums');
  // Bad jobs are rejected with the contract's typed errors before anything changes.
  const twice = [...keys, keys[0] as StoreSegment];
  await expectCode(
    backend.storage.kernels.attend(
      { q, start, rows: count, causal: true, keys: twice, values, length },
      attrs,
    ),
    'INVALID_ARGUMENT',
    'a position held twice',
  );
  const hostSeg = {
    ...(keys[0] as StoreSegment),
    data: { buffer: { byteLength: 4096 }, byteOffset: 0, byteLength: 4096 },
  };
  await expectCode(
    backend.storage.kernels.attend(
      {
        q,
        start,
        rows: count,
        causal: true,
        keys: [hostSeg as StoreSegment, ...keys.slice(1)],
        values,
        length,
      },
      attrs,
    ),
    'INVALID_ARGUMENT',
    'a view of another storage',
  );
  const again = await backend.storage.kernels.attend(
    { q, start, rows: count, causal: true, keys, values, length },
    attrs,
  );
  expectClose(again, want, 'prefill after rejected calls');
  return `relative error ${e.toExponential(2)}; duplicate positions and foreign views rejected`;
}

async function decodeRun(backend: WebgpuBackend, length: number, steps: number) {
  const sim = new DecodeSim(backend, { length, path: 'store' });
  const moved: TransferStats[] = [];
  let error = 0;
  try {
    for (let i = 0; i < steps; i++) {
      const q = sim.query();
      const r = await sim.step(q);
      moved.push(r.moved);
      error = Math.max(
        error,
        expectClose(r.out, sim.reference(q), `decode step at ${sim.position - 1}`),
      );
    }
    // Save-style read back: the pages hold exactly what the reference quantized.
    for (const [got, want] of await sim.readBack()) expectBytes(got, want, 'a page read back');
  } finally {
    sim.release();
  }
  return { moved, error };
}

async function decodeTransfers(backend: WebgpuBackend): Promise<string> {
  const steps = 3;
  const small = await decodeRun(backend, 4096, steps);
  const large = await decodeRun(backend, 32768, steps);
  // Step 0 builds the tables and RoPE tables (proportional to the context, once); a
  // steady step moves the same bytes at any context length.
  const a = small.moved[steps - 1] as TransferStats;
  const b = large.moved[steps - 1] as TransferStats;
  if (a.bytesToDevice !== b.bytesToDevice || a.bytesFromDevice !== b.bytesFromDevice) {
    fail(`one decode step moved ${JSON.stringify(a)} at 4k but ${JSON.stringify(b)} at 32k`);
  }
  // And far less than the context: the 4k cache alone holds ~4096 * 2 * 20 bytes.
  if (a.bytesToDevice > 4096) fail(`one decode step uploaded ${a.bytesToDevice} bytes`);
  return `one decode step moved ${a.bytesToDevice} B up, ${a.bytesFromDevice} B down at 4k and at 32k; worst relative error ${Math.max(small.error, large.error).toExponential(2)}`;
}

export function storeChecks(): StoreCheck[] {
  return [
    {
      name: 'storage: write / copy / read round trips, zeroed reuse, typed errors',
      run: storageRoundTrip,
    },
    { name: 'storage: several arenas, cross-arena copies, growth', run: storageArenas },
    ...TOKEN_CASES.map(
      (c): StoreCheck => ({
        name: `store quantizeTokens bit exact: bits ${c.bits}, meta ${c.meta}, x from ${c.source}`,
        run: (b) => quantizeTokensExact(b, c),
      }),
    ),
    {
      name: 'store quantizeBlock bit exact: KIVI 2-bit fp16 meta, x from fp16 rows',
      run: (b) => quantizeBlockExact(b, 2, 'fp16', 'fp16 rows'),
    },
    {
      name: 'store quantizeBlock bit exact: KIVI 4-bit fp8 meta, x from host',
      run: (b) => quantizeBlockExact(b, 4, 'fp8e4m3', 'host'),
    },
    {
      name: 'store quantize errors: non-finite device rows, metadata overflow',
      run: quantizeErrors,
    },
    ...GEOMETRIES.map(
      ({ name, geometry }): StoreCheck => ({
        name: `store attend decode, ${name}: packed pages (split mid-word), fp32 sinks, fp16 window, sums`,
        run: (b) => attendDecodeStore(b, geometry),
      }),
    ),
    { name: 'store attend decode: KIVI keys (channel blocks), custom scale', run: attendKiviStore },
    {
      name: 'store attend prefill: causal rows with sums; bad jobs rejected',
      run: attendPrefillStore,
    },
    {
      name: 'store attend over streams spread across arenas (device-side gather), pages split mid-word',
      run: attendAcrossArenas,
    },
    {
      name: 'decode step moves the same bytes at 4k and 32k cached tokens; pages read back exact',
      run: decodeTransfers,
    },
  ];
}
