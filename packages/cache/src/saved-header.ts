import { type KvGeometry, SkvqError, validateGeometry } from '@skvq/core';
import {
  checksumMatches,
  fileError,
  payloadOf,
  readContainerHead,
  splitByLengths,
  splitFramed,
} from './container.js';
import { FP_PRECISIONS, type FpPrecision } from './fp-rows.js';
import type { LayerCounts } from './layer.js';

/** How one stream of a saved quantized cache was quantized. */
export interface SavedStreamHeader {
  quantizer: string;
  bits: number;
  meta: string;
  groupSize: number;
  alpha: number | null;
  layout: string;
}

/** The JSON header of a saved cache (the same fields in format versions 1 and 2). */
export interface SavedCacheHeader {
  kind: 'dense' | 'quantized';
  geometry: KvGeometry;
  keysPreRope: boolean;
  fpPrecision: FpPrecision;
  streams: { k: SavedStreamHeader; v: SavedStreamHeader } | null;
  calibration: { fingerprint: string; crc32: number } | null;
  /** Per layer: tokens, policy window/sinks and where the tokens are. */
  layers: LayerCounts[];
}

/** A saved cache's header and its format version. */
export interface SavedCacheInfo {
  version: number;
  header: SavedCacheHeader;
}

const COUNT_KEYS = ['kept', 'pending', 'quantized'] as const;

function isCount(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 0;
}

/** Throws FILE_CORRUPTED unless `raw` has the header's shape (counts are checked later). */
function checkHeader(raw: unknown): SavedCacheHeader {
  const bad = (why: string) => fileError('FILE_CORRUPTED', `the header ${why}`);
  if (raw === null || typeof raw !== 'object') throw bad('is not a JSON object');
  const h = raw as SavedCacheHeader;
  if (h.kind !== 'dense' && h.kind !== 'quantized') throw bad('names no cache kind');
  try {
    validateGeometry(h.geometry, 'saved cache geometry');
  } catch (error) {
    throw bad(
      `has an invalid geometry (${error instanceof Error ? error.message : 'not an object'})`,
    );
  }
  if (!FP_PRECISIONS.includes(h.fpPrecision)) throw bad('names no fp precision');
  if (typeof h.keysPreRope !== 'boolean') throw bad('lacks keysPreRope');
  if (h.kind === 'quantized' && (h.streams === null || typeof h.streams !== 'object')) {
    throw bad('of a quantized cache lacks its stream specs');
  }
  if (!Array.isArray(h.layers) || h.layers.length !== h.geometry.layers) {
    throw bad(`must list ${h.geometry.layers} layers`);
  }
  for (const layer of h.layers) {
    const ok =
      layer !== null &&
      typeof layer === 'object' &&
      isCount(layer.length) &&
      isCount(layer.window) &&
      isCount(layer.sinks) &&
      isCount(layer.windowCount) &&
      [layer.k, layer.v].every(
        (s) => s !== null && typeof s === 'object' && COUNT_KEYS.every((key) => isCount(s[key])),
      );
    if (!ok) throw bad('has a layer entry without non-negative integer counts');
  }
  return h;
}

/**
 * A saved cache file's header, checked (magic, readable version, checksum, header shape),
 * without restoring the cache: what `skvq inspect` shows before it has the plugins and
 * calibration a restore needs.
 */
export function readCacheHeader(bytes: Uint8Array): SavedCacheInfo {
  const head = readContainerHead(bytes);
  if (head.header === null || !checksumMatches(bytes)) {
    throw fileError(
      'FILE_CORRUPTED',
      'checksum mismatch: the file was damaged after it was written',
    );
  }
  return { version: head.version, header: checkHeader(head.header) };
}

/**
 * The file's header and sections for loadCache. `v1Lengths` gives the section lengths a
 * version-1 header implies (version 1 has no framing). Damage is told apart: a file
 * shorter than its framing says is FILE_TRUNCATED, any other checksum failure
 * FILE_CORRUPTED.
 */
export function readSavedCache(
  bytes: Uint8Array,
  v1Lengths: (header: SavedCacheHeader) => number[],
): SavedCacheInfo & { sections: Uint8Array[] } {
  const head = readContainerHead(bytes);
  const payload = payloadOf(bytes, head);
  let header: SavedCacheHeader | null = null;
  let sections: Uint8Array[] | null = null;
  try {
    header = checkHeader(head.header);
  } catch (error) {
    if (!(error instanceof SkvqError)) throw error;
  }
  if (header !== null) {
    sections =
      head.version === 1 ? splitByLengths(payload, v1Lengths(header)) : splitFramed(payload);
  }
  if (header !== null && sections === null) {
    throw fileError('FILE_TRUNCATED', 'the file ends before the sections its header announces');
  }
  if (header === null || sections === null || !checksumMatches(bytes)) {
    throw fileError(
      'FILE_CORRUPTED',
      'checksum mismatch: the file was damaged after it was written',
    );
  }
  return { version: head.version, header, sections };
}
