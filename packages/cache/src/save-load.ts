import {
  type CalibrationArtifact,
  geometryDifferences,
  type KvGeometry,
  kvHidden,
  SkvqError,
  serializeCalibration,
} from '@skvq/core';
import { crc32 } from './crc32.js';
import { createDenseCache, type DenseCache, type DenseCacheOptions } from './dense-cache.js';
import { FP_BYTES, type FpData, type FpPagedRows, type FpPrecision } from './fp-rows.js';
import { createQuantizedCache, QuantizedCache, type StreamState } from './quantized-cache.js';
import type { QuantizedCacheOptions, StreamSpec } from './quantized-options.js';

/**
 * Saved cache format, version 1 (all integers little-endian):
 *
 * | bytes | content                                                          |
 * | ----- | ---------------------------------------------------------------- |
 * | 8     | magic `SKVQKVC` + 0x00                                           |
 * | 4     | u32 format version (1)                                           |
 * | 4     | u32 header length H                                              |
 * | H     | header JSON (UTF-8): kind, geometry, stream specs, calibration    |
 * |       | fingerprint and CRC, per-layer token counts                      |
 * | ...   | raw sections, per layer in header order (see `sections` below)  |
 * | 4     | u32 CRC-32 of every byte before it                               |
 *
 * Sections of a quantized layer: window K rows, window V rows (stored precision), then per
 * stream K, V: kept positions (Int32) and rows, pending positions and rows, quantized
 * positions (Int32), packed codes (rowCodeBytes per token), metadata (per unit). A dense
 * layer: K rows, V rows. Pages are written back to back and re-paged on load.
 */
export const CACHE_MAGIC = 'SKVQKVC\0';
export const CACHE_FORMAT_VERSION = 1;
const PREFIX_BYTES = 16;
const CRC_BYTES = 4;

interface StreamHeader {
  quantizer: string;
  bits: number;
  meta: string;
  groupSize: number;
  alpha: number | null;
  layout: string;
}

interface LayerHeader {
  length: number;
  window: number;
  sinks: number;
  windowCount: number;
  k: { kept: number; pending: number; quantized: number };
  v: { kept: number; pending: number; quantized: number };
}

interface Header {
  kind: 'dense' | 'quantized';
  geometry: KvGeometry;
  keysPreRope: boolean;
  fpPrecision: FpPrecision;
  streams: { k: StreamHeader; v: StreamHeader } | null;
  calibration: { fingerprint: string; crc32: number } | null;
  layers: LayerHeader[];
}

function calibrationId(calibration: CalibrationArtifact | undefined): Header['calibration'] {
  if (calibration === undefined) return null;
  const text = new TextEncoder().encode(serializeCalibration(calibration));
  return { fingerprint: calibration.model.fingerprint, crc32: crc32(text) };
}

function streamHeader(spec: StreamSpec, state: StreamState): StreamHeader {
  return {
    quantizer: spec.quantizer.name,
    bits: spec.bits,
    meta: spec.meta,
    groupSize: spec.groupSize,
    alpha: spec.alpha ?? null,
    layout: state.layout.kind,
  };
}

function bytesOf(a: FpData | Int32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function fpRowsSections(store: FpPagedRows): { positions: Uint8Array[]; rows: Uint8Array[] } {
  const positions: Uint8Array[] = [];
  const rows: Uint8Array[] = [];
  for (const page of store.pages) {
    positions.push(bytesOf(page.positions.subarray(0, page.count)));
    rows.push(bytesOf(page.data.subarray(0, page.count * store.channels)));
  }
  return { positions, rows };
}

function headerOf(cache: DenseCache | QuantizedCache): Header {
  if (cache instanceof QuantizedCache) {
    return {
      kind: 'quantized',
      geometry: cache.geometry,
      keysPreRope: cache.keysPreRope,
      fpPrecision: cache.fpPrecision,
      streams: {
        k: streamHeader(cache.options.keys, cache.layers[0]!.k),
        v: streamHeader(cache.options.values, cache.layers[0]!.v),
      },
      calibration: calibrationId(cache.options.calibration),
      layers: cache.layers.map((s) => ({
        length: s.length,
        window: s.policy.window,
        sinks: s.policy.sinks,
        windowCount: s.window.count,
        k: { kept: s.k.kept.count, pending: s.k.pending?.count ?? 0, quantized: s.k.pages.count },
        v: { kept: s.v.kept.count, pending: s.v.pending?.count ?? 0, quantized: s.v.pages.count },
      })),
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

function sections(cache: DenseCache | QuantizedCache): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (!(cache instanceof QuantizedCache)) {
    cache.keys.forEach((k, layer) => {
      out.push(...fpRowsSections(k).rows, ...fpRowsSections(cache.values[layer]!).rows);
    });
    return out;
  }
  for (const state of cache.layers) {
    out.push(bytesOf(state.window.stored('k')), bytesOf(state.window.stored('v')));
    for (const stream of [state.k, state.v]) {
      const kept = fpRowsSections(stream.kept);
      out.push(...kept.positions, ...kept.rows);
      const pending = stream.pending;
      if (pending !== null) {
        out.push(bytesOf(pending.positions.subarray(0, pending.count)));
        out.push(bytesOf(pending.data.subarray(0, pending.count * pending.channels)));
      }
      const pages = stream.pages;
      for (const page of pages.pages) out.push(bytesOf(page.positions.subarray(0, page.count)));
      for (const page of pages.pages) out.push(page.codes.subarray(0, page.count * pages.rowBytes));
      for (const page of pages.pages) {
        out.push(page.meta.subarray(0, (page.count / pages.unitTokens) * pages.unitBytes));
      }
    }
  }
  return out;
}

/** Serializes a dense or quantized cache (createDenseCache / createQuantizedCache). */
export function saveCache(cache: DenseCache | QuantizedCache): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify(headerOf(cache)));
  const parts = sections(cache);
  let size = PREFIX_BYTES + header.length + CRC_BYTES;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = CACHE_MAGIC.charCodeAt(i);
  view.setUint32(8, CACHE_FORMAT_VERSION, true);
  view.setUint32(12, header.length, true);
  out.set(header, PREFIX_BYTES);
  let at = PREFIX_BYTES + header.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  view.setUint32(at, crc32(out, 0, at), true);
  return out;
}

function fileError(
  code:
    | 'FILE_TRUNCATED'
    | 'FILE_CORRUPTED'
    | 'FILE_BAD_MAGIC'
    | 'FILE_UNSUPPORTED_VERSION'
    | 'CACHE_MISMATCH',
  message: string,
  details: Record<string, unknown> = {},
): SkvqError {
  return new SkvqError(code, `saved cache: ${message}`, { details });
}

/** Payload bytes the header announces (to tell a truncated file from a corrupted one). */
function payloadBytes(
  header: Header,
  rowBytes: { k: number; v: number },
  unit: { k: [number, number]; v: [number, number] },
): number {
  const ch = kvHidden(header.geometry);
  const fpRow = ch * FP_BYTES[header.fpPrecision];
  let n = 0;
  for (const layer of header.layers) {
    n += 2 * layer.windowCount * fpRow;
    for (const s of ['k', 'v'] as const) {
      const c = layer[s];
      n += (c.kept + c.pending) * (fpRow + 4);
      n += c.quantized * (4 + rowBytes[s]) + (c.quantized / unit[s][0]) * unit[s][1];
    }
  }
  return n;
}

class Reader {
  at: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
  ) {
    this.at = start;
  }
  take(n: number): Uint8Array {
    const out = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }
  int32(n: number): Int32Array {
    return new Int32Array(this.take(4 * n).buffer);
  }
  fp(precision: FpPrecision, elements: number): FpData {
    const raw = this.take(elements * FP_BYTES[precision]).buffer;
    return precision === 'fp32' ? new Float32Array(raw) : new Uint16Array(raw);
  }
}

function mismatch(
  header: Header,
  options: DenseCacheOptions | QuantizedCacheOptions,
  cache: DenseCache | QuantizedCache,
): string[] {
  const diffs = geometryDifferences(cache.geometry, header.geometry).map((d) => `geometry ${d}`);
  const want = headerOf(cache);
  if (want.kind !== header.kind)
    diffs.push(`kind: file holds a ${header.kind} cache, options describe a ${want.kind} cache`);
  if (want.keysPreRope !== header.keysPreRope)
    diffs.push(`keysPreRope: expected ${want.keysPreRope}, file has ${header.keysPreRope}`);
  if (want.fpPrecision !== header.fpPrecision)
    diffs.push(`fpPrecision: expected ${want.fpPrecision}, file has ${header.fpPrecision}`);
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
  if (diffs.length === 0 && 'keys' in options) {
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

/**
 * Restores a cache saved by saveCache. `options` rebuild the plugins (they cannot be
 * serialized) and must describe the same cache: same geometry, stream specs, calibration
 * and policy window/sinks, or CACHE_MISMATCH. Damaged files give FILE_TRUNCATED,
 * FILE_CORRUPTED, FILE_BAD_MAGIC or FILE_UNSUPPORTED_VERSION. A quantized cache's policy is
 * reset and replayed with admit(0, length) per layer (its decision is not needed: the file
 * holds where every token is).
 */
export function loadCache(bytes: Uint8Array, options: DenseCacheOptions): DenseCache;
export function loadCache(bytes: Uint8Array, options: QuantizedCacheOptions): QuantizedCache;
export function loadCache(
  bytes: Uint8Array,
  options: DenseCacheOptions | QuantizedCacheOptions,
): DenseCache | QuantizedCache {
  if (!(bytes instanceof Uint8Array))
    throw new SkvqError('INVALID_ARGUMENT', 'loadCache: bytes must be a Uint8Array');
  for (let i = 0; i < Math.min(8, bytes.length); i++) {
    if (bytes[i] !== CACHE_MAGIC.charCodeAt(i)) {
      throw fileError('FILE_BAD_MAGIC', 'not a skvq cache file (wrong magic bytes)');
    }
  }
  if (bytes.length < PREFIX_BYTES + CRC_BYTES) {
    throw fileError(
      'FILE_TRUNCATED',
      `only ${bytes.length} bytes; a cache file has at least ${PREFIX_BYTES + CRC_BYTES}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CACHE_FORMAT_VERSION) {
    throw fileError(
      'FILE_UNSUPPORTED_VERSION',
      `format version ${version} is not supported; this library reads version ${CACHE_FORMAT_VERSION}`,
      { version, supported: [CACHE_FORMAT_VERSION] },
    );
  }
  const headerLength = view.getUint32(12, true);
  if (PREFIX_BYTES + headerLength + CRC_BYTES > bytes.length) {
    throw fileError(
      'FILE_TRUNCATED',
      `the header needs ${headerLength} bytes but the file ends first`,
    );
  }
  let header: Header | null = null;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(
        bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength),
      ),
    ) as Header;
  } catch {
    header = null;
  }
  const crcOk =
    crc32(bytes, 0, bytes.length - CRC_BYTES) === view.getUint32(bytes.length - CRC_BYTES, true);
  const cache = 'keys' in options ? createQuantizedCache(options) : createDenseCache(options);
  if (!crcOk || header === null) {
    if (header !== null && typeof header === 'object' && Array.isArray(header.layers)) {
      try {
        const expected =
          PREFIX_BYTES + headerLength + payloadBytes(header, ...unitsOf(cache)) + CRC_BYTES;
        if (bytes.length < expected) {
          throw fileError(
            'FILE_TRUNCATED',
            `the file has ${bytes.length} bytes; its header announces ${expected}`,
            { length: bytes.length, expected },
          );
        }
      } catch (error) {
        if (error instanceof SkvqError) throw error;
      }
    }
    throw fileError(
      'FILE_CORRUPTED',
      'checksum mismatch: the file was damaged after it was written',
    );
  }
  const diffs = mismatch(header, options, cache);
  if (diffs.length > 0) {
    throw fileError(
      'CACHE_MISMATCH',
      `made for another configuration than the options given (${diffs.join('; ')})`,
      { differences: diffs },
    );
  }
  const reader = new Reader(bytes, PREFIX_BYTES + headerLength);
  const ch = kvHidden(cache.geometry);
  if (!(cache instanceof QuantizedCache)) {
    header.layers.forEach((layer, i) => {
      const positions = Int32Array.from({ length: layer.length }, (_, p) => p);
      cache.keys[i]!.appendStored(
        reader.fp(header.fpPrecision, layer.length * ch),
        0,
        layer.length,
        positions,
        0,
      );
      cache.values[i]!.appendStored(
        reader.fp(header.fpPrecision, layer.length * ch),
        0,
        layer.length,
        positions,
        0,
      );
    });
    return cache;
  }
  header.layers.forEach((layer, i) => {
    const state = cache.layers[i]!;
    const first = layer.length - layer.windowCount;
    const wk = reader.fp(header.fpPrecision, layer.windowCount * ch);
    const wv = reader.fp(header.fpPrecision, layer.windowCount * ch);
    state.window.appendStored(wk, wv, layer.windowCount, first);
    for (const name of ['k', 'v'] as const) {
      const stream = state[name];
      const c = layer[name];
      const keptPositions = reader.int32(c.kept);
      stream.kept.appendStored(
        reader.fp(header.fpPrecision, c.kept * ch),
        0,
        c.kept,
        keptPositions,
        0,
      );
      if (stream.pending !== null) {
        const pendingPositions = reader.int32(c.pending);
        const rows = reader.fp(header.fpPrecision, c.pending * ch);
        (stream.pending.data as Float32Array).set(rows as Float32Array);
        stream.pending.positions.set(pendingPositions);
        stream.pending.count = c.pending;
      }
      const pages = stream.pages;
      const positions = reader.int32(c.quantized);
      const codes = reader.take(c.quantized * pages.rowBytes);
      const meta = reader.take((c.quantized / pages.unitTokens) * pages.unitBytes);
      let done = 0;
      for (const slice of pages.reserve(c.quantized, positions, 0)) {
        slice.page.codes.set(
          codes.subarray(done * pages.rowBytes, (done + slice.tokens) * pages.rowBytes),
          slice.first * pages.rowBytes,
        );
        const u0 = done / pages.unitTokens;
        const u1 = (done + slice.tokens) / pages.unitTokens;
        slice.page.meta.set(
          meta.subarray(u0 * pages.unitBytes, u1 * pages.unitBytes),
          (slice.first / pages.unitTokens) * pages.unitBytes,
        );
        done += slice.tokens;
      }
    }
    state.length = layer.length;
    state.policy.reset();
    if (layer.length > 0) state.policy.admit(0, layer.length);
  });
  return cache;
}

function unitsOf(
  cache: DenseCache | QuantizedCache,
): [{ k: number; v: number }, { k: [number, number]; v: [number, number] }] {
  if (!(cache instanceof QuantizedCache))
    return [
      { k: 0, v: 0 },
      { k: [1, 0], v: [1, 0] },
    ];
  const s = cache.layers[0]!;
  return [
    { k: s.k.pages.rowBytes, v: s.v.pages.rowBytes },
    {
      k: [s.k.pages.unitTokens, s.k.pages.unitBytes],
      v: [s.v.pages.unitTokens, s.v.pages.unitBytes],
    },
  ];
}
