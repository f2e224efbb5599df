// What a quantized cache must present for every position, computed independently of the
// cache: fp for sinks, rule-kept and window tokens; the scalar reference quantizers
// applied token by token (token-group) or block by block (channel-block) for the rest.
import { dequantizeBlockReference, quantizeBlockReference } from '@skvq/baselines';
import {
  applyRope,
  type KvGeometry,
  kvHidden,
  metaBytesPerUnit,
  type QuantLayout,
  ropeInverseFrequencies,
  rowCodeBytes,
} from '@skvq/core';
import { dequantizeTokensReference, quantizeTokensReference } from '@skvq/quantizer-group-clip';
import type { Rows } from './oracle.js';

export interface SimOptions {
  window: number;
  sinks: number;
  keysPreRope: boolean;
  layouts: { k: QuantLayout; v: QuantLayout };
  /** Positions from here on are presented at full precision ('original' prefill reads). */
  originalFrom?: number;
  keep?: (p: number) => boolean;
}

function quantizeStream(
  layout: QuantLayout,
  x: Float32Array,
  positions: number[],
  ch: number,
  out: Float64Array,
  originalFrom: number,
): void {
  if (layout.kind === 'token-group') {
    const codes = new Uint8Array(rowCodeBytes(layout));
    const meta = new Uint8Array(metaBytesPerUnit(layout));
    const tmp = new Float32Array(ch);
    for (const p of positions) {
      if (p >= originalFrom) continue;
      quantizeTokensReference(layout, x.subarray(p * ch, (p + 1) * ch), 1, codes, 0, meta, 0);
      dequantizeTokensReference(layout, codes, 0, meta, 0, 1, tmp, 0);
      out.set(tmp, p * ch);
    }
    return;
  }
  const B = layout.blockTokens;
  const codes = new Uint8Array(B * rowCodeBytes(layout));
  const meta = new Uint8Array(metaBytesPerUnit(layout));
  const block = new Float32Array(B * ch);
  const tmp = new Float32Array(B * ch);
  for (let b = 0; b + B <= positions.length; b += B) {
    const ps = positions.slice(b, b + B);
    if (ps[0]! >= originalFrom || ps[B - 1]! >= originalFrom) continue; // 'original': straddling block stays fp
    ps.forEach((p, i) => {
      block.set(x.subarray(p * ch, (p + 1) * ch), i * ch);
    });
    quantizeBlockReference(layout, block, 0, codes, 0, meta, 0);
    dequantizeBlockReference(layout, codes, 0, meta, 0, tmp, 0);
    ps.forEach((p, i) => {
      out.set(tmp.subarray(i * ch, (i + 1) * ch), p * ch);
    });
  }
}

/** Rows of K and V ([length, kvHidden], float64) as the cache must present them. */
export function simulateCache(
  geometry: KvGeometry,
  k: Float32Array,
  v: Float32Array,
  length: number,
  options: SimOptions,
): { keys: Rows[]; values: Rows[] } {
  const ch = kvHidden(geometry);
  const kk = k.slice(0, length * ch);
  if (!options.keysPreRope) {
    const inv = ropeInverseFrequencies(geometry.headDim, geometry.rope.theta);
    for (let p = 0; p < length; p++)
      applyRope(kk, p * ch, geometry.kvHeads, geometry.headDim, geometry.rope, p, inv);
  }
  const leaveEnd = length - Math.min(options.window, length);
  const quantized: number[] = [];
  for (let p = 0; p < leaveEnd; p++) {
    if (p >= options.sinks && !(options.keep?.(p) ?? false)) quantized.push(p);
  }
  const from = options.originalFrom ?? Number.POSITIVE_INFINITY;
  const kOut = Float64Array.from(kk);
  const vOut = Float64Array.from(v.subarray(0, length * ch));
  quantizeStream(options.layouts.k, kk, quantized, ch, kOut, from);
  quantizeStream(options.layouts.v, v, quantized, ch, vOut, from);
  const positions = Int32Array.from({ length }, (_, i) => i);
  return { keys: [{ data: kOut, positions }], values: [{ data: vOut, positions }] };
}
