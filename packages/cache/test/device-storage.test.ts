// The cache over device storage: the opaque-store test backend keeps every byte out of
// the host's reach (buffers without a host array) and counts what crosses. Imported from
// the conformance package's source by path: @skvq/backend-conformance depends on this
// package (its store suite builds caches), so a package dependency back would be a cycle.
import { cpuReferenceBackend } from '@skvq/backend-cpu';
import { type KvSegment, kvHidden, queryHidden, type SkvqError, transferStatsOf } from '@skvq/core';
import { heavyHitterRule, slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { describe, expect, it } from 'vitest';
import { createOpaqueStoreBackend } from '../../backend-conformance/src/opaque-store.js';
import {
  createDenseCache,
  createQuantizedCache,
  loadCache,
  type QuantizedCache,
  type QuantizedCacheOptions,
  saveCache,
  saveCacheAsync,
} from '../src/index.js';
import { randomActivations } from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, METHODS, type Method, methodOptions } from './helpers/setup.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

type Mode = 'quantized' | 'original';

function options(
  method: Method,
  backend: QuantizedCacheOptions['backend'],
  fpPrecision: 'fp32' | 'fp16',
  mode: Mode = 'quantized',
): QuantizedCacheOptions {
  const keep7 = { name: 'every 7th', keeps: (p: number) => p % 7 === 0 };
  return {
    geometry,
    backend,
    policy: () => fifoPolicy(8, 3, [keep7]),
    pageTokens: 32,
    fpPrecision,
    prefillAttention: mode,
    ...methodOptions(method),
  };
}

/** What a segment holds, bit for bit (used rows of fp segments; codes and metadata). */
function contents(segments: readonly KvSegment[]) {
  return segments.map((s) =>
    s.kind === 'fp'
      ? [s.kind, s.count, Array.from(s.positions), Array.from(s.data.subarray(0, s.count * CH))]
      : [s.kind, s.count, Array.from(s.positions), Array.from(s.codes), Array.from(s.meta)],
  );
}

/** K/V rows with an outlier token the fp8 metadata cannot hold (it is kept, not quantized). */
function rows(n: number, seed: number) {
  const k = randomActivations(n * CH, seed, CH);
  const v = randomActivations(n * CH, seed + 1);
  k.fill(3000, 20 * CH, 21 * CH);
  return { k, v, q: randomActivations(n * QH, seed + 2) };
}

/** Runs the same prompt and decode steps on both caches, checking they agree at each step. */
async function drive(host: QuantizedCache, device: QuantizedCache, prompt: number, steps: number) {
  const s = host.length(0);
  const d = rows(prompt + steps, 5 + s);
  for (const layer of [0, 1]) {
    const k = d.k.subarray(0, prompt * CH);
    const v = d.v.subarray(0, prompt * CH);
    await host.append(layer, k, v, prompt);
    await device.append(layer, k, v, prompt);
  }
  const q = d.q.subarray(0, prompt * QH);
  expect(await device.attendPrefill(0, q, s, prompt)).toEqual(
    await host.attendPrefill(0, q, s, prompt),
  );
  for (let t = prompt; t < prompt + steps; t++) {
    const k = d.k.subarray(t * CH, (t + 1) * CH);
    const v = d.v.subarray(t * CH, (t + 1) * CH);
    const qt = d.q.subarray(t * QH, (t + 1) * QH);
    for (const layer of [0, 1]) {
      await host.append(layer, k, v, 1);
      await device.append(layer, k, v, 1);
      expect(await device.attend(layer, qt, s + t)).toEqual(await host.attend(layer, qt, s + t));
    }
  }
}

describe('quantized cache on device storage (opaque-store backend)', () => {
  const cases = METHODS.flatMap((m) =>
    (['fp16', 'fp32'] as const).flatMap((fp) =>
      (['quantized', 'original'] as const).map((mode) => [m, fp, mode] as const),
    ),
  );

  it.each(cases)(
    '%s, %s fp tokens, %s prefill: prefill and decode equal the host cache bit for bit',
    async (method, fp, mode) => {
      const backend = createOpaqueStoreBackend();
      const host = createQuantizedCache(options(method, cpuReferenceBackend, fp, mode));
      const device = createQuantizedCache(options(method, backend, fp, mode));
      await drive(host, device, 45, 24);
      expect(device.bytes()).toEqual(host.bytes());
      expect(device.describe()).toEqual(host.describe());
      for (const layer of [0, 1]) {
        const want = host.segments(layer);
        const got = await device.readSegments(layer);
        expect(contents(got.keys)).toEqual(contents(want.keys));
        expect(contents(got.values)).toEqual(contents(want.values));
      }
      device.reset();
      expect(backend.liveBuffers()).toBe(0);
    },
  );

  it.each(METHODS)('%s: save and load through the device store, bit for bit', async (method) => {
    const backend = createOpaqueStoreBackend();
    const host = createQuantizedCache(options(method, cpuReferenceBackend, 'fp16'));
    const device = createQuantizedCache(options(method, backend, 'fp16'));
    await drive(host, device, 37, 6);
    const file = saveCache(host);
    expect(saveCache(device)).toEqual(file);
    expect(await saveCacheAsync(device)).toEqual(file);
    const before = transferStatsOf(backend).bytesToDevice;
    const loaded = loadCache(file, options(method, backend, 'fp16'));
    // the restored bytes were written into the store (nothing else holds them)
    expect(transferStatsOf(backend).bytesToDevice).toBeGreaterThan(before);
    expect(loaded.bytes()).toEqual(host.bytes());
    expect(await saveCacheAsync(loaded)).toEqual(file);
    await drive(host, loaded, 5, 12);
    expect(saveCache(loaded)).toEqual(saveCache(host));
  });

  it('one decode step moves the same bytes at 256 and at 2,048 cached tokens', async () => {
    const step = async (context: number) => {
      const backend = createOpaqueStoreBackend();
      const cache = createQuantizedCache(options('skvq', backend, 'fp16'));
      const d = rows(context + 1, 9);
      await cache.append(0, d.k.subarray(0, context * CH), d.v.subarray(0, context * CH), context);
      const before = transferStatsOf(backend);
      const at = context * CH;
      await cache.append(0, d.k.subarray(at, at + CH), d.v.subarray(at, at + CH), 1);
      await cache.attend(0, d.q.subarray(0, QH), context);
      const after = transferStatsOf(backend);
      return {
        up: after.bytesToDevice - before.bytesToDevice,
        down: after.bytesFromDevice - before.bytesFromDevice,
      };
    };
    const small = await step(256);
    const large = await step(2048);
    expect(large).toEqual(small);
    // the new K and V rows (fp16) and the query go up, the output comes down: nothing else
    expect(small).toEqual({ up: 2 * CH * 2 + QH * 4, down: QH * 4 });
  });

  it('heavy-hitter rule: attention sums (the one host array) keep the same tokens as on the host', async () => {
    const make = (backend: QuantizedCacheOptions['backend']) => {
      const rules = [heavyHitterRule({ quantile: 0.5 })];
      return createQuantizedCache({
        geometry,
        backend,
        policy: slidingWindowPolicy,
        window: 4,
        sinks: 1,
        rules: (layer) => (layer === 1 ? rules : []),
        ...methodOptions('rtn'),
      });
    };
    const host = make(cpuReferenceBackend);
    const device = make(createOpaqueStoreBackend());
    const d = rows(40, 31);
    for (let t = 0; t < 40; t++) {
      for (const c of [host, device]) {
        await c.append(
          1,
          d.k.subarray(t * CH, (t + 1) * CH),
          d.v.subarray(t * CH, (t + 1) * CH),
          1,
        );
      }
      const q = d.q.subarray(t * QH, (t + 1) * QH);
      expect(await device.attend(1, q, t)).toEqual(await host.attend(1, q, t));
    }
    expect(device.describeLayer(1).kept).toBeGreaterThan(0);
    expect(device.describeLayer(1)).toEqual(host.describeLayer(1));
    expect(saveCache(device)).toEqual(saveCache(host));
  });

  it('saveCache on a storage with asynchronous reads is STORAGE_READ_ASYNC; saveCacheAsync works', async () => {
    const backend = createOpaqueStoreBackend(undefined, { asyncReads: true });
    const host = createQuantizedCache(options('kivi', cpuReferenceBackend, 'fp16'));
    const device = createQuantizedCache(options('kivi', backend, 'fp16'));
    await drive(host, device, 30, 3);
    let code = 'no error';
    try {
      saveCache(device);
    } catch (error) {
      code = (error as SkvqError).code;
      expect((error as Error).message).toContain('saveCacheAsync');
    }
    expect(code).toBe('STORAGE_READ_ASYNC');
    expect(await saveCacheAsync(device)).toEqual(saveCache(host));
    expect(() => device.segments(0)).toThrow(/readSegments/);
  });

  it('dense cache: rows in the device store, attention and save/load equal the host', async () => {
    const backend = createOpaqueStoreBackend();
    const make = (b: QuantizedCacheOptions['backend']) =>
      createDenseCache({ geometry, precision: 'fp16', backend: b, pageTokens: 32 });
    const host = make(cpuReferenceBackend);
    const device = make(backend);
    const d = rows(70, 21);
    for (const c of [host, device]) c.append(0, d.k, d.v, 70);
    const q = d.q.subarray(0, QH);
    expect(await device.attend(0, q, 69)).toEqual(await host.attend(0, q, 69));
    expect(await device.attendPrefill(0, d.q, 0, 70)).toEqual(
      await host.attendPrefill(0, d.q, 0, 70),
    );
    expect(device.bytes()).toEqual(host.bytes());
    const read = await device.readSegments(0);
    const want = host.readSegments(0) as Awaited<typeof read>;
    expect(contents(read.keys)).toEqual(contents(want.keys));
    expect(contents(read.values)).toEqual(contents(want.values));
    expect(() => device.keys[0]!.segments()).toThrow(/readSegments/);
    const file = saveCache(host);
    expect(await saveCacheAsync(device)).toEqual(file);
    const loaded = loadCache(file, {
      geometry,
      precision: 'fp16',
      backend,
      pageTokens: 32,
    });
    expect(await loaded.attend(0, q, 69)).toEqual(await host.attend(0, q, 69));
    device.reset();
    loaded.reset();
    expect(backend.liveBuffers()).toBe(0);
  });
});
