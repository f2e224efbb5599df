import { SkvqError } from '@skvq/core';
import { crc32 } from './crc32.js';

/**
 * The saved cache file's container, independent of what the cache parts write
 * (all integers little-endian):
 *
 * | bytes | content                                                      |
 * | ----- | ------------------------------------------------------------ |
 * | 8     | magic `SKVQKVC` + 0x00                                       |
 * | 4     | u32 format version                                           |
 * | 4     | u32 header length H                                          |
 * | H     | header JSON (UTF-8)                                          |
 * | ...   | payload: version 2: u32 section count S, then S times        |
 * |       | (u32 byte length L, L bytes); version 1: the sections back   |
 * |       | to back, their lengths implied by the header's counts        |
 * | 4     | u32 CRC-32 of every byte before it                           |
 *
 * Each section is what one part of the cache wrote (a window, a stream, a dense layer's
 * K or V rows); its own restore reads it and checks its counts against its length.
 */
export const CACHE_MAGIC = 'SKVQKVC\0';
/** The version saveCache writes. */
export const CACHE_FORMAT_VERSION = 2;
/** Versions loadCache reads. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];
const PREFIX_BYTES = 16;
const CRC_BYTES = 4;

export type FileErrorCode =
  | 'FILE_TRUNCATED'
  | 'FILE_CORRUPTED'
  | 'FILE_BAD_MAGIC'
  | 'FILE_UNSUPPORTED_VERSION'
  | 'CACHE_MISMATCH';

export function fileError(
  code: FileErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): SkvqError {
  return new SkvqError(code, `saved cache: ${message}`, { details });
}

/** True when `bytes` starts with the saved cache magic. */
export function isSavedCache(bytes: Uint8Array): boolean {
  if (bytes.length < CACHE_MAGIC.length) return false;
  for (let i = 0; i < CACHE_MAGIC.length; i++)
    if (bytes[i] !== CACHE_MAGIC.charCodeAt(i)) return false;
  return true;
}

/** Writes a version-2 file: prefix, header JSON, length-framed sections, CRC. */
export function writeContainer(header: unknown, sections: readonly Uint8Array[][]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  let size = PREFIX_BYTES + json.length + 4 + CRC_BYTES;
  for (const section of sections) for (const part of section) size += part.length;
  size += 4 * sections.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = CACHE_MAGIC.charCodeAt(i);
  view.setUint32(8, CACHE_FORMAT_VERSION, true);
  view.setUint32(12, json.length, true);
  out.set(json, PREFIX_BYTES);
  let at = PREFIX_BYTES + json.length;
  view.setUint32(at, sections.length, true);
  at += 4;
  for (const section of sections) {
    let length = 0;
    for (const part of section) length += part.length;
    view.setUint32(at, length, true);
    at += 4;
    for (const part of section) {
      out.set(part, at);
      at += part.length;
    }
  }
  view.setUint32(at, crc32(out, 0, at), true);
  return out;
}

/** A file's prefix and header, before its payload is trusted. */
export interface ContainerHead {
  version: number;
  /** The parsed header JSON, or null when it is not valid JSON. */
  header: unknown;
  /** Offset of the payload (right after the header). */
  payloadStart: number;
}

/** Reads magic, version and header; typed errors for foreign, truncated or newer files. */
export function readContainerHead(bytes: Uint8Array): ContainerHead {
  if (!(bytes instanceof Uint8Array))
    throw new SkvqError('INVALID_ARGUMENT', 'saved cache: bytes must be a Uint8Array');
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
  if (!READABLE_FORMAT_VERSIONS.includes(version)) {
    throw fileError(
      'FILE_UNSUPPORTED_VERSION',
      `format version ${version} is not supported; this library reads versions ${READABLE_FORMAT_VERSIONS.join(' and ')} (save it again with the library that wrote it, or re-create it with skvq generate --save-cache)`,
      { version, supported: READABLE_FORMAT_VERSIONS },
    );
  }
  const headerLength = view.getUint32(12, true);
  if (PREFIX_BYTES + headerLength + CRC_BYTES > bytes.length) {
    throw fileError(
      'FILE_TRUNCATED',
      `the header needs ${headerLength} bytes but the file ends first`,
    );
  }
  let header: unknown = null;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(
        bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength),
      ),
    );
  } catch {
    header = null;
  }
  return { version, header, payloadStart: PREFIX_BYTES + headerLength };
}

/** True when the trailing CRC matches every byte before it. */
export function checksumMatches(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - CRC_BYTES;
  return crc32(bytes, 0, end) === view.getUint32(end, true);
}

/** The payload between header and CRC. */
export function payloadOf(bytes: Uint8Array, head: ContainerHead): Uint8Array {
  return bytes.subarray(head.payloadStart, bytes.length - CRC_BYTES);
}

/**
 * Cuts a version-2 payload into its sections. `null` when the framing runs past the end
 * (a truncated file); FILE_CORRUPTED when bytes are left over.
 */
export function splitFramed(payload: Uint8Array): Uint8Array[] | null {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload.length < 4) return null;
  const count = view.getUint32(0, true);
  const out: Uint8Array[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > payload.length) return null;
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > payload.length) return null;
    out.push(payload.subarray(at, at + length));
    at += length;
  }
  if (at !== payload.length) {
    throw fileError('FILE_CORRUPTED', `${payload.length - at} bytes after the last section`);
  }
  return out;
}

/** Cuts a version-1 payload by section lengths the header implies; null when it is short. */
export function splitByLengths(
  payload: Uint8Array,
  lengths: readonly number[],
): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const length of lengths) {
    if (at + length > payload.length) return null;
    out.push(payload.subarray(at, at + length));
    at += length;
  }
  if (at !== payload.length) {
    throw fileError('FILE_CORRUPTED', `${payload.length - at} bytes after the last section`);
  }
  return out;
}
