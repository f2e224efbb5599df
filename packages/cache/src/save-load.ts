import {
  type CalibrationArtifact,
  geometryDifferences,
  kvHidden,
  serializeCalibration,
} from '@skvq/core';
import { fileError, writeContainer } from './container.js';
import { crc32 } from './crc32.js';
import { createDenseCache, type DenseCache, type DenseCacheOptions } from './dense-cache.js';
import type { FpPagedRows, SectionPart } from './fp-rows.js';
import { CacheLayer } from './layer.js';
import { cacheLayers, QuantizedCache, quantizedCacheStore } from './quantized-cache.js';
import type { QuantizedCacheOptions, StreamSpec } from './quantized-options.js';
import { readParts, readPartsSync } from './read-back.js';
import { readSavedCache, type SavedCacheHeader, type SavedStreamHeader } from './saved-header.js';
import { badSection, SectionReader } from './section-reader.js';
import { QuantizedStream } from './stream.js';
import { WindowBuffer } from './window.js';

/*
 * What each part writes (sections, in header order):
 * - quantized layer: window (K rows, V rows in stored precision), K stream, V stream
 *   (stream.ts: kept positions and rows, pending positions and rows, quantized positions,
 *   codes, metadata);
 * - dense layer: K rows, V rows (positions are 0..length-1).
 * The container (container.ts) frames them; version 1 files have the same sections
 * unframed, their lengths implied by the header's counts.
 */

function calibrationId(
  calibration: CalibrationArtifact | undefined,
): SavedCacheHeader['calibration'] {
  if (calibration === undefined) return null;
  const text = new TextEncoder().encode(serializeCalibration(calibration));
  return { fingerprint: calibration.model.fingerprint, crc32: crc32(text) };
}

function streamHeader(spec: StreamSpec, layout: string): SavedStreamHeader {
  return {
    quantizer: spec.quantizer.name,
    bits: spec.bits,
    meta: spec.meta,
    groupSize: spec.groupSize,
    alpha: spec.alpha ?? null,
    layout,
  };
}

function headerOf(cache: DenseCache | QuantizedCache): SavedCacheHeader {
  if (cache instanceof QuantizedCache) {
    const layouts = cache.layouts(0);
    return {
      kind: 'quantized',
      geometry: cache.geometry,
      keysPreRope: cache.keysPreRope,
      fpPrecision: cache.fpPrecision,
      streams: {
        k: streamHeader(cache.options.keys, layouts.k.kind),
        v: streamHeader(cache.options.values, layouts.v.kind),
      },
      calibration: calibrationId(cache.options.calibration),
      layers: cacheLayers(cache).map((layer) => layer.counts()),
    };
  }
  return {
    kind: 'dense',
    geometry: cache.geometry,
    keysPreRope: cache.keysPreRope,
    fpPrecision: cache.precision,
    streams: null,
    calibration: null,
    layers: cache.keys.map((s) => ({
      length: s.count,
      window: 0,
      sinks: 0,
      windowCount: 0,
      k: { kept: s.count, pending: 0, quantized: 0 },
      v: { kept: s.count, pending: 0, quantized: 0 },
    })),
  };
}

/** The cache's saved sections; parts in device memory are still store views. */
function sectionParts(cache: DenseCache | QuantizedCache): SectionPart[][] {
  return cache instanceof QuantizedCache
    ? cacheLayers(cache).flatMap((layer) => layer.sections())
    : cache.keys.flatMap((k, i) => [k.rowSections(), cache.values[i]!.rowSections()]);
}

function storeOf(cache: DenseCache | QuantizedCache) {
  return cache instanceof QuantizedCache ? quantizedCacheStore(cache) : cache.store;
}

/**
 * Serializes a dense or quantized cache (createDenseCache / createQuantizedCache),
 * synchronously. Bytes in device memory are read through the backend's storage; when its
 * reads are asynchronous this throws STORAGE_READ_ASYNC: use saveCacheAsync.
 */
export function saveCache(cache: DenseCache | QuantizedCache): Uint8Array {
  const store = storeOf(cache);
  const backend = cache instanceof QuantizedCache ? cache.options.backend.name : cache.backendName;
  const sections = sectionParts(cache).map((parts) => readPartsSync(store, parts, backend));
  return writeContainer(headerOf(cache), sections);
}

/**
 * saveCache for every cache, including those whose backend reads its device memory
 * asynchronously (WebGPU): the same bytes saveCache writes.
 */
export async function saveCacheAsync(cache: DenseCache | QuantizedCache): Promise<Uint8Array> {
  const store = storeOf(cache);
  const header = headerOf(cache);
  const sections = await Promise.all(sectionParts(cache).map((parts) => readParts(store, parts)));
  return writeContainer(header, sections);
}

/** What differs between the file's header and the cache the options describe. */
function mismatch(header: SavedCacheHeader, cache: DenseCache | QuantizedCache): string[] {
  const diffs = geometryDifferences(cache.geometry, header.geometry).map((d) => `geometry ${d}`);
  const want = headerOf(cache);
  if (want.kind !== header.kind)
    diffs.push(`kind: file holds a ${header.kind} cache, options describe a ${want.kind} cache`);
  if (want.keysPreRope !== header.keysPreRope)
    diffs.push(`keysPreRope: expected ${want.keysPreRope}, file has ${header.keysPreRope}`);
  if (want.fpPrecision !== header.fpPrecision)
    diffs.push(
      `fpPrecision: expected ${want.fpPrecision}, file has ${header.fpPrecision} (pass fpPrecision: '${header.fpPrecision}')`,
    );
  if (JSON.stringify(want.streams) !== JSON.stringify(header.streams)) {
    diffs.push(
      `stream specs: expected ${JSON.stringify(want.streams)}, file has ${JSON.stringify(header.streams)}`,
    );
  }
  if (JSON.stringify(want.calibration) !== JSON.stringify(header.calibration)) {
    diffs.push(
      `calibration: expected ${JSON.stringify(want.calibration)}, file was made with ${JSON.stringify(header.calibration)}`,
    );
  }
  if (diffs.length === 0 && want.kind === 'quantized') {
    want.layers.forEach((l, i) => {
      const h = header.layers[i]!;
      if (l.window !== h.window || l.sinks !== h.sinks) {
        diffs.push(
          `layer ${i} policy: expected window ${l.window} sinks ${l.sinks}, file has window ${h.window} sinks ${h.sinks}`,
        );
      }
    });
  }
  return diffs;
}

/** Section lengths a version-1 header implies (version 1 files are not framed). */
function versionOneLengths(cache: DenseCache | QuantizedCache) {
  return (header: SavedCacheHeader): number[] => {
    const ch = kvHidden(header.geometry);
    if (header.kind === 'dense' || !(cache instanceof QuantizedCache)) {
      const row = ch * (header.fpPrecision === 'fp32' ? 4 : 2);
      return header.layers.flatMap((l) => [l.length * row, l.length * row]);
    }
    return header.layers.flatMap((l, i) => {
      const layouts = cache.layouts(Math.min(i, cache.geometry.layers - 1));
      const stream = (s: 'k' | 'v') =>
        QuantizedStream.sectionBytes(
          { layout: layouts[s], channels: ch, precision: header.fpPrecision },
          l[s],
        );
      return [
        WindowBuffer.sectionBytes(l.windowCount, ch, header.fpPrecision),
        stream('k'),
        stream('v'),
      ];
    });
  };
}

/**
 * Restores a cache saved by saveCache (format version 2, or 1 from earlier releases).
 * `options` rebuild the plugins (they cannot be serialized) and must describe the same
 * cache: same geometry, stream specs, calibration, fpPrecision and policy window/sinks, or
 * CACHE_MISMATCH naming each difference. Damaged files give FILE_TRUNCATED, FILE_CORRUPTED
 * (also when a count does not match the bytes present), FILE_BAD_MAGIC or
 * FILE_UNSUPPORTED_VERSION. A quantized cache's policy is reset and replayed with
 * admit(0, length) per layer.
 */
export function loadCache(bytes: Uint8Array, options: DenseCacheOptions): DenseCache;
export function loadCache(bytes: Uint8Array, options: QuantizedCacheOptions): QuantizedCache;
export function loadCache(
  bytes: Uint8Array,
  options: DenseCacheOptions | QuantizedCacheOptions,
): DenseCache | QuantizedCache {
  // A cache built from the options first: it checks them and gives the expected header.
  const probe = 'keys' in options ? createQuantizedCacheProbe(options) : createDenseCache(options);
  const { header, sections } = readSavedCache(bytes, versionOneLengths(probe));
  const diffs = mismatch(header, probe);
  if (diffs.length > 0) {
    throw fileError(
      'CACHE_MISMATCH',
      `made for another configuration than the options given (${diffs.join('; ')})`,
      { differences: diffs },
    );
  }
  const perLayer = probe instanceof QuantizedCache ? 3 : 2;
  if (sections.length !== perLayer * header.layers.length) {
    throw badSection(
      `the file holds ${sections.length} sections; ${header.layers.length} ${header.kind} layers write ${perLayer * header.layers.length}`,
    );
  }
  if (!(probe instanceof QuantizedCache)) {
    header.layers.forEach((layer, i) => {
      restoreDenseRows(probe.keys[i]!, sections[2 * i]!, layer.length, `layer ${i} keys`);
      restoreDenseRows(probe.values[i]!, sections[2 * i + 1]!, layer.length, `layer ${i} values`);
    });
    return probe;
  }
  return new QuantizedCache(options as QuantizedCacheOptions, (config, i) =>
    CacheLayer.restore(config, header.layers[i]!, sections.slice(3 * i, 3 * i + 3), `layer ${i}`),
  );
}

function createQuantizedCacheProbe(options: QuantizedCacheOptions): QuantizedCache {
  return new QuantizedCache(options);
}

/** A dense layer's saved K or V rows (positions 0..length-1), checked against its bytes. */
function restoreDenseRows(store: FpPagedRows, section: Uint8Array, length: number, name: string) {
  const reader = new SectionReader(section, name);
  const rows = reader.fp(store.precision, length * store.channels);
  reader.finish();
  store.appendStored(
    rows,
    0,
    length,
    Int32Array.from({ length }, (_, p) => p),
    0,
  );
}
