// Device storage: round trips, zeroed reuse, arenas, growth, typed errors.
import type { StoreView } from '@skvq/core';
import { createWebgpuBackend, type WebgpuBackend } from '../src/index.js';
import { delta, expectBytes, expectCode, fail, randomBytes } from './check-common.js';
import { rng } from './random-data.js';

export async function storageRoundTrip(backend: WebgpuBackend): Promise<string> {
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

export async function storageArenas(backend: WebgpuBackend): Promise<string> {
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
