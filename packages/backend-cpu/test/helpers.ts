import {
  type BitWidth,
  type KvGeometry,
  type KvSegment,
  kvHidden,
  type MetaFormat,
  metaBytesPerUnit,
  type QuantLayout,
  rowCodeBytes,
} from '@skvq/core';
import { encodeFp16, quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';

/**
 * Small self-contained generators for this package's tests (the shared ones live in
 * @skvq/backend-conformance, which depends on this package, so importing them here would
 * make a dependency cycle).
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normals(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

export function geometry(
  queryHeads: number,
  kvHeads: number,
  headDim: number,
  style: 'pairwise' | 'half' | 'none' = 'pairwise',
): KvGeometry {
  return { layers: 1, queryHeads, kvHeads, headDim, rope: { style, theta: 10000 } };
}

/** Token-group layout with a random permutation and unequal groups cut at random. */
export function tokenGroupLayout(
  r: () => number,
  channels: number,
  bits: BitWidth,
  meta: MetaFormat,
  groups: number,
): QuantLayout {
  const perm = new Uint32Array(channels).map((_, i) => i);
  for (let i = channels - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
  }
  const cuts = new Set<number>();
  while (cuts.size < groups - 1) cuts.add(1 + Math.floor(r() * (channels - 1)));
  const offsets = Uint32Array.from([0, ...[...cuts].sort((a, b) => a - b), channels]);
  return { kind: 'token-group', channels, bits, meta, perm, groupOffsets: offsets, alpha: 0.95 };
}

export type Piece =
  | { kind: 'fp32' | 'fp16'; count: number }
  | { kind: 'packed'; count: number; layout: QuantLayout };

/** Splits rows ([length, channels], row p = position p) into consecutive segments. */
export function segments(rows: Float32Array, g: KvGeometry, pieces: readonly Piece[]): KvSegment[] {
  const channels = kvHidden(g);
  const out: KvSegment[] = [];
  let next = 0;
  for (const piece of pieces) {
    const { count } = piece;
    const positions = Int32Array.from({ length: count }, (_, i) => next + i);
    const data = rows.slice(next * channels, (next + count) * channels);
    next += count;
    if (piece.kind === 'fp32') out.push({ kind: 'fp', precision: 'fp32', count, data, positions });
    else if (piece.kind === 'fp16') {
      out.push({
        kind: 'fp',
        precision: 'fp16',
        count,
        data: Uint16Array.from(data, (v) => encodeFp16(v)),
        positions,
      });
    } else if (piece.kind === 'packed') {
      const { layout } = piece;
      const codes = new Uint8Array(count * rowCodeBytes(layout));
      const unit = layout.kind === 'token-group' ? 1 : layout.blockTokens;
      const meta = new Uint8Array((count / unit) * metaBytesPerUnit(layout));
      if (layout.kind === 'token-group')
        quantizeTokensReference(layout, data, count, codes, 0, meta, 0);
      else {
        for (let b = 0; b < count / unit; b++) {
          quantizeBlockReference(
            layout,
            data,
            b * unit * channels,
            codes,
            b * unit * rowCodeBytes(layout),
            meta,
            b * metaBytesPerUnit(layout),
          );
        }
      }
      out.push({ kind: 'packed', count, layout, codes, meta, positions });
    }
  }
  return out;
}

/** max |a - b| / max |b|. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
    s = Math.max(s, Math.abs(b[i] as number));
  }
  return d / s;
}
