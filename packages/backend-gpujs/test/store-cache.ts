import { benchLayout, benchRows } from '@skvq/backend-conformance';
import {
  type BackendPlugin,
  type BackendStorage,
  type KvSegment,
  metaBytesPerUnit,
  rowCodeBytes,
  type StoreSegment,
  type StoreView,
  type TokenGroupLayout,
} from '@skvq/core';
import { quantizeTokensReference } from '@skvq/formats';
import { bytesOf } from './store-helpers.js';

/**
 * A cache laid out the way a device-storage cache keeps one layer: per stream fp32 sinks,
 * packed pages of PAGE tokens (K 2 bits, V ternary, SKVQ-style layouts), and an fp32
 * window buffer with spare rows that each decode step appends one token to. The same
 * tokens also as host segments, for the host-array kernels and the reference.
 */
export const SINKS = 4;
export const PAGE = 1024;
export const WINDOW = 32;
export const WINDOW_CAPACITY = 64;

interface Stream {
  layout: TokenGroupLayout;
  store: StoreSegment[];
  host: KvSegment[];
  window: StoreView;
  windowHost: Float32Array;
}

export interface StepCache {
  channels: number;
  /** Tokens held (sinks + pages + window). */
  length: number;
  keys: Stream;
  values: Stream;
}

function buildStream(
  storage: BackendStorage,
  channels: number,
  length: number,
  bits: 2 | 1.5,
  seed: number,
): Stream {
  const layout = benchLayout(channels, bits);
  const packed = length - SINKS - WINDOW;
  const store: StoreSegment[] = [];
  const host: KvSegment[] = [];
  const positions = (first: number, n: number) =>
    Int32Array.from({ length: n }, (_, i) => first + i);
  const sinks = benchRows(seed, SINKS, channels);
  const sinkView = {
    buffer: storage.allocate(sinks.byteLength, 'fp'),
    byteOffset: 0,
    byteLength: sinks.byteLength,
  };
  storage.write(sinkView.buffer, 0, bytesOf(sinks));
  store.push({
    kind: 'fp',
    count: SINKS,
    precision: 'fp32',
    data: sinkView,
    positions: positions(0, SINKS),
  });
  host.push({
    kind: 'fp',
    count: SINKS,
    precision: 'fp32',
    data: sinks,
    positions: positions(0, SINKS),
  });
  for (let t = 0; t < packed; t += PAGE) {
    const n = Math.min(PAGE, packed - t);
    const codes = new Uint8Array(PAGE * rowCodeBytes(layout));
    const meta = new Uint8Array(PAGE * metaBytesPerUnit(layout));
    quantizeTokensReference(layout, benchRows(seed + 1 + t, n, channels), n, codes, 0, meta, 0);
    const c = storage.allocate(codes.length, 'codes');
    const m = storage.allocate(meta.length, 'meta');
    storage.write(c, 0, codes);
    storage.write(m, 0, meta);
    const pos = positions(SINKS + t, n);
    store.push({
      kind: 'packed',
      count: n,
      layout,
      codes: { buffer: c, byteOffset: 0, byteLength: codes.length },
      meta: { buffer: m, byteOffset: 0, byteLength: meta.length },
      positions: pos,
    });
    host.push({ kind: 'packed', count: n, layout, codes, meta, positions: pos });
  }
  const windowHost = new Float32Array(WINDOW_CAPACITY * channels);
  windowHost.set(benchRows(seed + 2, WINDOW, channels));
  const wb = storage.allocate(windowHost.byteLength, 'fp');
  storage.write(wb, 0, bytesOf(windowHost));
  return {
    layout,
    store,
    host,
    window: { buffer: wb, byteOffset: 0, byteLength: windowHost.byteLength },
    windowHost,
  };
}

export function buildStepCache(
  storage: BackendStorage,
  channels: number,
  length: number,
): StepCache {
  return {
    channels,
    length,
    keys: buildStream(storage, channels, length, 2, 100),
    values: buildStream(storage, channels, length, 1.5, 200),
  };
}

const windowPositions = (length: number, w: number) =>
  Int32Array.from({ length: w }, (_, i) => length - w + i);

/** The store segments of a stream whose window holds `w` tokens (the last one at length-1). */
export function storeSegmentsOf(stream: Stream, length: number, w: number): StoreSegment[] {
  const positions = windowPositions(length, w);
  return [
    ...stream.store,
    { kind: 'fp' as const, count: w, precision: 'fp32' as const, data: stream.window, positions },
  ];
}

/** The same tokens as host segments. */
export function hostSegmentsOf(stream: Stream, length: number, w: number): KvSegment[] {
  const positions = windowPositions(length, w);
  return [
    ...stream.host,
    {
      kind: 'fp' as const,
      count: w,
      precision: 'fp32' as const,
      data: stream.windowHost,
      positions,
    },
  ];
}

/**
 * One decode step the way a device-storage cache runs it: the new token's key and value
 * rows written into the windows (the only KV bytes uploaded), then attention in the store.
 * Returns the output; `step` counts the steps taken (window row WINDOW + step).
 */
export async function storeDecodeStep(
  backend: BackendPlugin,
  cache: StepCache,
  step: number,
  q: Float32Array,
  attrs: Parameters<NonNullable<BackendStorage['kernels']>['attend']>[1],
): Promise<Float32Array> {
  const storage = backend.storage as BackendStorage;
  const C = cache.channels;
  const w = WINDOW + step + 1;
  const length = cache.length + step + 1;
  for (const [stream, seed] of [
    [cache.keys, 300],
    [cache.values, 400],
  ] as const) {
    const row = benchRows(seed + step, 1, C);
    stream.windowHost.set(row, (w - 1) * C);
    storage.write(stream.window.buffer, (w - 1) * C * 4, bytesOf(row));
  }
  return storage.kernels!.attend(
    {
      q,
      start: length - 1,
      rows: 1,
      causal: false,
      keys: storeSegmentsOf(cache.keys, length, w),
      values: storeSegmentsOf(cache.values, length, w),
      length,
    },
    attrs,
  );
}

/** The same step with the host-array kernel (every call uploads the slices it reads). */
export async function hostDecodeStep(
  backend: BackendPlugin,
  cache: StepCache,
  step: number,
  q: Float32Array,
  attrs: Parameters<NonNullable<BackendStorage['kernels']>['attend']>[1],
): Promise<Float32Array> {
  const w = WINDOW + step + 1;
  const length = cache.length + step + 1;
  return backend.kernels.attendDecode!(
    {
      q,
      position: length - 1,
      keys: hostSegmentsOf(cache.keys, length, w),
      values: hostSegmentsOf(cache.values, length, w),
      length,
    },
    attrs,
  );
}
