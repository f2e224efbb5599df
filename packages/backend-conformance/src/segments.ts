import {
  type KvSegment,
  metaBytesPerUnit,
  type QuantLayout,
  rowCodeBytes,
  SkvqError,
} from '@skvq/core';
import { quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import { toFp16 } from './generators.js';

/**
 * Hand-built segment lists, the way a cache lays out one stream: fp32 sinks, packed pages,
 * fp16 / fp32 window, kept tokens. Pages are filled with the reference quantizers, so
 * every backend attends over identical bytes.
 */
export type SegmentPiece =
  | { readonly kind: 'fp32'; readonly count: number }
  | { readonly kind: 'fp16'; readonly count: number }
  | { readonly kind: 'packed'; readonly count: number; readonly layout: QuantLayout };

/** Spare rows each buffer gets beyond `count` (real pages and windows have spare capacity). */
const SPARE_ROWS = 2;

/**
 * Splits the tokens of `data` ([length, channels], row p = the token at position p) into
 * segments: piece k takes the next `count` entries of `order` as its positions (default
 * order 0..length-1, so pieces are consecutive runs). Throws unless the pieces add up to
 * length.
 */
export function buildSegments(
  data: Float32Array,
  channels: number,
  pieces: readonly SegmentPiece[],
  order?: Int32Array,
): KvSegment[] {
  const length = data.length / channels;
  const total = pieces.reduce((n, p) => n + p.count, 0);
  if (total !== length) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `buildSegments: pieces hold ${total} tokens; data has ${length}`,
    );
  }
  const positionsOrder = order ?? Int32Array.from({ length }, (_, i) => i);
  const segments: KvSegment[] = [];
  let next = 0;
  for (const piece of pieces) {
    const count = piece.count;
    const positions = positionsOrder.slice(next, next + count);
    next += count;
    const rows = new Float32Array((count + SPARE_ROWS) * channels);
    for (let i = 0; i < count; i++) {
      const p = positions[i] as number;
      rows.set(data.subarray(p * channels, (p + 1) * channels), i * channels);
    }
    if (piece.kind === 'fp32') {
      segments.push({ kind: 'fp', precision: 'fp32', count, data: rows, positions });
    } else if (piece.kind === 'fp16') {
      segments.push({ kind: 'fp', precision: 'fp16', count, data: toFp16(rows), positions });
    } else {
      segments.push(packSegment(piece.layout, rows, count, positions));
    }
  }
  return segments;
}

/** Quantizes `count` rows ([>= count, channels], natural order) into one packed page. */
export function packSegment(
  layout: QuantLayout,
  rows: Float32Array,
  count: number,
  positions: Int32Array,
): KvSegment {
  const channels = layout.channels;
  const rowBytes = rowCodeBytes(layout);
  const codes = new Uint8Array((count + SPARE_ROWS) * rowBytes);
  if (layout.kind === 'token-group') {
    const meta = new Uint8Array((count + SPARE_ROWS) * metaBytesPerUnit(layout));
    quantizeTokensReference(layout, rows.subarray(0, count * channels), count, codes, 0, meta, 0);
    return { kind: 'packed', count, layout, codes, meta, positions };
  }
  const blocks = count / layout.blockTokens;
  if (!Number.isInteger(blocks)) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `packSegment: ${count} tokens are not whole blocks of ${layout.blockTokens}`,
    );
  }
  const meta = new Uint8Array((blocks + 1) * metaBytesPerUnit(layout));
  for (let b = 0; b < blocks; b++) {
    quantizeBlockReference(
      layout,
      rows,
      b * layout.blockTokens * channels,
      codes,
      b * layout.blockTokens * rowBytes,
      meta,
      b * metaBytesPerUnit(layout),
    );
  }
  return { kind: 'packed', count, layout, codes, meta, positions };
}
