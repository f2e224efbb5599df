// Store attention against the reference, and the bytes a decode step moves.
import {
  type AttentionAttrs,
  type KvGeometry,
  metaBytesPerUnit,
  queryHidden,
  rowCodeBytes,
  type StoreSegment,
  type StoreView,
  type TransferStats,
} from '@skvq/core';
import { createWebgpuBackend, type WebgpuBackend } from '../src/index.js';
import {
  attendDecodeReference,
  attendPrefillReference,
  delta,
  expectBytes,
  expectClose,
  expectCode,
  fail,
} from './check-common.js';
import { DecodeSim } from './decode-sim.js';
import { rng } from './random-data.js';
import { cacheFixture } from './segments-fixture.js';
import { bytesOf, toStore } from './store-fixture.js';

export const GEOMETRIES: { name: string; geometry: KvGeometry }[] = [
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

export async function attendDecodeStore(
  backend: WebgpuBackend,
  geometry: KvGeometry,
): Promise<string> {
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

export async function attendKiviStore(backend: WebgpuBackend): Promise<string> {
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
export function splitPages(segments: StoreSegment[], at: number): StoreSegment[] {
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

export async function attendAcrossArenas(backend: WebgpuBackend): Promise<string> {
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

export async function attendPrefillStore(backend: WebgpuBackend): Promise<string> {
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

export async function decodeRun(backend: WebgpuBackend, length: number, steps: number) {
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

export async function decodeTransfers(backend: WebgpuBackend): Promise<string> {
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
