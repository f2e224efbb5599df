import { type BitWidth, codeBytes, META_BYTES, type MetaFormat } from './bits.js';

/**
 * Declarative descriptions of how a stream (the keys or the values of one layer) is stored
 * quantized. They are plain data so that every backend (CPU, WebGPU, gpu.js, CUDA) can
 * implement the same kernels over them and reproduce the reference bit for bit.
 *
 * Codes of one token always form one packed row of `codeBytes(bits, channels)` bytes, in
 * the layout's channel order (the permuted order for token-group layouts with `perm`).
 *
 * Arithmetic contract (the reference in @skvq/formats; SKVQ.md section 2):
 * all steps in float32; scale and zero are rounded to the metadata format first, and the
 * codes are computed from the decoded stored values, so dequantization depends only on
 * what is stored: `q = floor(clamp((x - zero) / scale, 0, maxq) + 0.5)`,
 * `x_hat = q * scale + zero`.
 */

/**
 * Per-token group quantization (SKVQ; RTN per token; KIVI's values): each token's channels,
 * taken in `perm` order, are cut into groups at `groupOffsets`; each group of each token has
 * its own scale and zero, stored interleaved `[scale_0, zero_0, scale_1, zero_1, ...]`.
 */
export interface TokenGroupLayout {
  readonly kind: 'token-group';
  /** Channels per token: kvHidden (all KV heads of the layer; a group may mix heads). */
  readonly channels: number;
  readonly bits: BitWidth;
  readonly meta: MetaFormat;
  /** perm[j] = original channel stored at position j; null means identity order. */
  readonly perm: Uint32Array | null;
  /** Group g covers positions [groupOffsets[g], groupOffsets[g+1]); starts at 0, ends at channels. */
  readonly groupOffsets: Uint32Array;
  /** Clip ratio alpha in (0, 1]: lo = alpha * min, hi = alpha * max. */
  readonly alpha: number;
}

/**
 * Per-channel quantization over blocks of consecutive tokens (KIVI's keys): for each block
 * of `blockTokens` tokens and each channel, one scale and zero, stored per block as
 * `[scale_c0, zero_c0, scale_c1, zero_c1, ...]` in natural channel order. Tokens are
 * quantized only a whole block at a time.
 */
export interface ChannelBlockLayout {
  readonly kind: 'channel-block';
  readonly channels: number;
  readonly bits: BitWidth;
  readonly meta: MetaFormat;
  readonly blockTokens: number;
  readonly alpha: number;
}

export type QuantLayout = TokenGroupLayout | ChannelBlockLayout;

/** Bytes of one token's packed codes. */
export function rowCodeBytes(layout: QuantLayout): number {
  return codeBytes(layout.bits, layout.channels);
}

export function groupCount(layout: TokenGroupLayout): number {
  return layout.groupOffsets.length - 1;
}

/**
 * Metadata bytes stored per token (token-group) or per block of `blockTokens` tokens
 * (channel-block): a scale and a zero per group or per channel.
 */
export function metaBytesPerUnit(layout: QuantLayout): number {
  const perValue = META_BYTES[layout.meta];
  return layout.kind === 'token-group'
    ? 2 * groupCount(layout) * perValue
    : 2 * layout.channels * perValue;
}

/** Tokens that share one metadata unit: 1 for token-group, blockTokens for channel-block. */
export function tokensPerMetaUnit(layout: QuantLayout): number {
  return layout.kind === 'token-group' ? 1 : layout.blockTokens;
}

/** Contiguous equal groups of `groupSize` (the last one shorter if it does not divide). */
export function contiguousGroupOffsets(channels: number, groupSize: number): Uint32Array {
  const groups = Math.ceil(channels / groupSize);
  const offsets = new Uint32Array(groups + 1);
  for (let g = 0; g <= groups; g++) offsets[g] = Math.min(g * groupSize, channels);
  return offsets;
}
