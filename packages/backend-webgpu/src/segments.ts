import {
  type KvSegment,
  metaBytesPerUnit,
  rowCodeBytes,
  SkvqError,
  type TokenGroupLayout,
} from '@skvq/core';
import { layoutPlan, validateLayout } from '@skvq/formats';
import { bitsCode } from './wgsl/codes.js';
import { META_FORMAT_CODE, SEGMENT_KIND, SEGMENT_STRIDE } from './wgsl/segment-reader.js';

/** Rows addressable in one segment, and segments in one stream (index entry = seg << 24 | row). */
const MAX_ROWS = 1 << 24;
const MAX_SEGMENTS = 256;
const UNSET = 0xffffffff;

/** Concatenates byte chunks at 4-byte aligned offsets (the WGSL side reads u32 words). */
export class BytePool {
  private chunks: { offset: number; bytes: Uint8Array }[] = [];
  size = 0;
  add(bytes: Uint8Array): number {
    const offset = this.size;
    this.chunks.push({ offset, bytes });
    this.size = offset + Math.ceil(bytes.byteLength / 4) * 4;
    return offset;
  }
  build(): Uint8Array {
    // One spare word: the 3-bit reader may look at the byte after a row's last code.
    const out = new Uint8Array(this.size + 4);
    for (const c of this.chunks) out.set(c.bytes, c.offset);
    return out;
  }
}

/** u32 words appended in order; offsets are word indices. */
export class WordTable {
  private parts: Uint32Array[] = [];
  size = 0;
  add(words: Uint32Array): number {
    const offset = this.size;
    this.parts.push(words);
    this.size += words.length;
    return offset;
  }
  build(): Uint32Array {
    const out = new Uint32Array(Math.max(1, this.size));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function bytesOf(a: Float32Array | Uint16Array | Uint8Array, elements: number): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, elements * a.BYTES_PER_ELEMENT);
}

/** invPerm[C] | groupOf[C] of a token-group layout (cached per layout object). */
const auxCache = new WeakMap<TokenGroupLayout, Uint32Array>();
function readerAux(layout: TokenGroupLayout): Uint32Array {
  let aux = auxCache.get(layout);
  if (aux === undefined) {
    const C = layout.channels;
    const { storageOf, pairOf } = layoutPlan(layout);
    aux = new Uint32Array(2 * C);
    aux.set(storageOf, 0);
    aux.set(pairOf, C);
    auxCache.set(layout, aux);
  }
  return aux;
}

function invalid(code: 'INVALID_ARGUMENT' | 'SHAPE_MISMATCH', message: string): never {
  throw new SkvqError(code, message);
}

/** Adds one segment's bytes to `pool` (and its aux words to `tables`); returns its descriptor. */
export function addSegment(
  seg: KvSegment,
  channels: number,
  pool: BytePool,
  tables: WordTable,
  where: string,
): Uint32Array {
  const entry = new Uint32Array(SEGMENT_STRIDE);
  const n = seg.count;
  if (!Number.isInteger(n) || n < 0 || n > MAX_ROWS) {
    invalid(
      'INVALID_ARGUMENT',
      `${where}: segment count ${n} must be an integer in 0..${MAX_ROWS}`,
    );
  }
  if (seg.kind === 'fp') {
    if (seg.precision !== 'fp32' && seg.precision !== 'fp16') {
      invalid(
        'INVALID_ARGUMENT',
        `${where}: fp segment precision ${String(seg.precision)}; expected fp32, fp16`,
      );
    }
    const wantF32 = seg.precision === 'fp32';
    if (wantF32 ? !(seg.data instanceof Float32Array) : !(seg.data instanceof Uint16Array)) {
      invalid(
        'INVALID_ARGUMENT',
        `${where}: ${seg.precision} segment data must be a ${wantF32 ? 'Float32Array' : 'Uint16Array'}`,
      );
    }
    if (seg.data.length < n * channels) {
      invalid(
        'SHAPE_MISMATCH',
        `${where}: fp segment data has ${seg.data.length} elements; ${n * channels} needed ([count, ${channels}])`,
      );
    }
    entry[0] = wantF32 ? SEGMENT_KIND.fp32 : SEGMENT_KIND.fp16;
    entry[1] = pool.add(bytesOf(seg.data, n * channels));
    return entry;
  }
  if (seg.kind !== 'packed') {
    invalid(
      'INVALID_ARGUMENT',
      `${where}: segment kind ${String((seg as { kind: unknown }).kind)}; expected fp, packed`,
    );
  }
  const layout = seg.layout;
  validateLayout(layout, where);
  if (layout.channels !== channels) {
    invalid(
      'SHAPE_MISMATCH',
      `${where}: packed segment layout has ${layout.channels} channels; the geometry has ${channels}`,
    );
  }
  const rowBytes = rowCodeBytes(layout);
  const metaUnit = metaBytesPerUnit(layout);
  const units = layout.kind === 'token-group' ? n : n / layout.blockTokens;
  if (!Number.isInteger(units)) {
    invalid(
      'INVALID_ARGUMENT',
      `${where}: channel-block segment count ${n} is not a multiple of blockTokens ${layout.kind === 'channel-block' ? layout.blockTokens : 1}`,
    );
  }
  if (seg.codes.length < n * rowBytes || seg.meta.length < units * metaUnit) {
    invalid(
      'SHAPE_MISMATCH',
      `${where}: packed segment of ${n} tokens needs ${n * rowBytes} code bytes and ${units * metaUnit} meta bytes; got ${seg.codes.length} and ${seg.meta.length}`,
    );
  }
  entry[0] = layout.kind === 'token-group' ? SEGMENT_KIND.tokenGroup : SEGMENT_KIND.channelBlock;
  entry[1] = pool.add(seg.codes.subarray(0, n * rowBytes));
  entry[2] = pool.add(seg.meta.subarray(0, units * metaUnit));
  entry[3] = rowBytes;
  entry[4] = metaUnit;
  entry[5] = layout.kind === 'token-group' ? tables.add(readerAux(layout)) : 0;
  entry[6] = bitsCode(layout.bits);
  entry[7] = META_FORMAT_CODE[layout.meta];
  entry[8] = layout.kind === 'channel-block' ? layout.blockTokens : 1;
  return entry;
}

/**
 * Lays a stream's segments out and returns the table offset of each segment plus the
 * position index (entry seg << 24 | row per position), checking that the segments hold
 * every position in [0, length) exactly once.
 */
export function addStream(
  segments: readonly KvSegment[],
  length: number,
  channels: number,
  pool: BytePool,
  tables: WordTable,
  what: 'keys' | 'values',
  where: string,
): { segBase: number; index: number } {
  if (!Array.isArray(segments))
    invalid('INVALID_ARGUMENT', `${where}: ${what} must be an array of segments`);
  if (segments.length > MAX_SEGMENTS) {
    invalid(
      'INVALID_ARGUMENT',
      `${where}: ${segments.length} ${what} segments; at most ${MAX_SEGMENTS}`,
    );
  }
  const index = new Uint32Array(length).fill(UNSET);
  // Descriptors go in one contiguous run after every segment's aux words.
  const entries = new Uint32Array(Math.max(1, segments.length) * SEGMENT_STRIDE);
  segments.forEach((seg, s) => {
    entries.set(
      addSegment(seg, channels, pool, tables, `${where}: ${what}[${s}]`),
      s * SEGMENT_STRIDE,
    );
    if (!(seg.positions instanceof Int32Array) || seg.positions.length < seg.count) {
      invalid(
        'SHAPE_MISMATCH',
        `${where}: ${what}[${s}].positions must be an Int32Array of at least ${seg.count} entries`,
      );
    }
    for (let i = 0; i < seg.count; i++) {
      const p = seg.positions[i] as number;
      if (p < 0 || p >= length) {
        invalid(
          'INVALID_ARGUMENT',
          `${where}: ${what}[${s}].positions[${i}] = ${p} is outside 0..${length - 1}`,
        );
      }
      if (index[p] !== UNSET)
        invalid('INVALID_ARGUMENT', `${where}: ${what} hold position ${p} twice`);
      index[p] = (s << 24) | i;
    }
  });
  const missing = index.indexOf(UNSET);
  if (missing >= 0)
    invalid('INVALID_ARGUMENT', `${where}: ${what} do not hold position ${missing}`);
  return { segBase: tables.add(entries), index: tables.add(index) };
}
