import {
  type FpSegment,
  type KvSegment,
  type MaybePromise,
  type PackedSegment,
  SkvqError,
  type StoreView,
} from '@skvq/core';
import type { SectionPart } from './fp-rows.js';
import type { CacheSegment } from './kernels.js';
import { afterValue } from './maybe-promise.js';
import type { CacheStore } from './store.js';

/**
 * Reading a cache's bytes back to the host (save, inspection, tests): every device byte
 * goes through `storage.read`. Host parts are used as they are.
 */

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function isHostBytes(part: SectionPart): part is Uint8Array {
  return part instanceof Uint8Array;
}

/**
 * Every part as host bytes, reading store views through the storage; a promise only when a
 * read returned one.
 */
export function readParts(
  store: CacheStore,
  parts: readonly SectionPart[],
): MaybePromise<Uint8Array[]> {
  const read = parts.map((part) => (isHostBytes(part) ? part : store.read(part)));
  if (!read.some(isThenable)) return read as Uint8Array[];
  return Promise.all(read);
}

/**
 * readParts for saveCache: synchronous, or a typed error when the storage's reads are
 * asynchronous (device memory read back through a queue): the caller should use
 * saveCacheAsync.
 */
export function readPartsSync(
  store: CacheStore,
  parts: readonly SectionPart[],
  backend: string,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const part of parts) {
    if (isHostBytes(part)) {
      out.push(part);
      continue;
    }
    const bytes = store.read(part);
    if (isThenable(bytes)) {
      // the read was started; its result is dropped (and a rejection must not go unhandled)
      (bytes as Promise<Uint8Array>).catch(() => undefined);
      throw new SkvqError(
        'STORAGE_READ_ASYNC',
        `saveCache: backend "${backend}" reads its device memory asynchronously; use await saveCacheAsync(cache) instead`,
        { details: { backend } },
      );
    }
    out.push(bytes);
  }
  return out;
}

function fpOf(precision: 'fp32' | 'fp16', bytes: Uint8Array): Float32Array | Uint16Array {
  const copy = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return precision === 'fp32'
    ? new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4)
    : new Uint16Array(copy.buffer, copy.byteOffset, copy.byteLength / 2);
}

/**
 * Segments with host arrays: on host storage the segments themselves; on a device, copies
 * of every segment's bytes read through the storage.
 */
export function readSegments(
  store: CacheStore,
  segments: { keys: CacheSegment[]; values: CacheSegment[] },
): MaybePromise<{ keys: KvSegment[]; values: KvSegment[] }> {
  if (!store.device) return segments as { keys: KvSegment[]; values: KvSegment[] };
  const all = [...segments.keys, ...segments.values];
  const views: StoreView[] = [];
  for (const s of all) {
    if (s.kind === 'fp') views.push(s.data as StoreView);
    else views.push(s.codes as StoreView, s.meta as StoreView);
  }
  const build = (bytes: Uint8Array[]) => {
    let at = 0;
    const host = all.map((s): KvSegment => {
      if (s.kind === 'fp') {
        const data = fpOf(s.precision, bytes[at++]!);
        return { ...s, data } as FpSegment;
      }
      const codes = bytes[at++]!;
      const meta = bytes[at++]!;
      return { ...s, codes, meta } as PackedSegment;
    });
    return { keys: host.slice(0, segments.keys.length), values: host.slice(segments.keys.length) };
  };
  let out!: { keys: KvSegment[]; values: KvSegment[] };
  const read = afterValue(readParts(store, views), (bytes) => {
    out = build(bytes);
  });
  return isThenable(read) ? (read as Promise<Uint8Array[]>).then(() => out) : out;
}
