import {
  groupCount,
  metaBytesPerUnit,
  type QuantLayout,
  rowCodeBytes,
  SkvqError,
} from '@skvq/core';
import { assertPositiveInt } from '@skvq/formats';

/** Bytes of one stored permutation entry or group offset (a Uint32Array element). */
const INDEX_BYTES = 4;
/** Default bytes of a full-precision element: fp16 (what a GPU cache keeps). */
const DEFAULT_FP_BYTES = 2;

/** How one stream (K or V) is stored. */
export interface StreamStorage {
  layout: QuantLayout;
}

export interface AverageBitsInput {
  /** Channels per token of one stream of one layer (kvHidden). */
  channels: number;
  /** Tokens in the cache. */
  tokens: number;
  layers: number;
  k: StreamStorage;
  v: StreamStorage;
  /** Tokens kept full precision per layer and stream: window + sinks + kept (default 0). */
  fpTokens?: number;
  /** Bytes of a full-precision element: 2 for an fp16 window, 4 for fp32 (default 2). */
  fpBytesPerElement?: number;
}

/** Bytes by kind, summed over layers and both streams. */
export interface AverageBitsBreakdown {
  /** Packed codes, row padding included. */
  codes: number;
  /** Stored scales and zeros. */
  meta: number;
  /** Full-precision tokens (window, sinks, kept). */
  fp: number;
  /** Per-layer, per-stream permutations (Uint32 per channel) and group offsets (Uint32 each). */
  permutations: number;
  total: number;
}

export interface AverageBitsResult {
  /** total * 8 / elements. */
  bits: number;
  /** tokens * layers * 2 * channels. */
  elements: number;
  breakdown: AverageBitsBreakdown;
}

function invalid(message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('INVALID_ARGUMENT', `averageBits: ${message}`, { details });
}

/**
 * Analytic storage of a quantized KV cache (SKVQ.md section 5: count everything stored),
 * exact to the byte. Per layer and stream, with Q = tokens - fpTokens quantized tokens:
 * ```
 * codes        = Q * rowCodeBytes(layout)
 * meta         = Q * metaBytesPerUnit(layout)                    (token-group)
 *              = (Q / blockTokens) * metaBytesPerUnit(layout)    (channel-block)
 * fp           = fpTokens * channels * fpBytesPerElement
 * permutations = 4 * channels (if perm) + 4 * (groups + 1)       (token-group; 0 otherwise)
 * ```
 * Group offsets are counted for every token-group layout, even contiguous ones: kept simple
 * and on the safe side. For channel-block layouts Q must be a whole number of blocks (put a
 * partial block, KIVI's residual, into fpTokens).
 */
export function averageBits(input: AverageBitsInput): AverageBitsResult {
  const { channels, tokens, layers } = input;
  assertPositiveInt(channels, 'channels', 'averageBits');
  assertPositiveInt(tokens, 'tokens', 'averageBits');
  assertPositiveInt(layers, 'layers', 'averageBits');
  const fpTokens = input.fpTokens ?? 0;
  if (!Number.isInteger(fpTokens) || fpTokens < 0 || fpTokens > tokens) {
    invalid(`fpTokens ${fpTokens} must be an integer in 0..${tokens} (tokens)`, { fpTokens });
  }
  const fpBytes = input.fpBytesPerElement ?? DEFAULT_FP_BYTES;
  if (fpBytes !== 2 && fpBytes !== 4) {
    invalid(`fpBytesPerElement ${fpBytes} is not supported; expected 2, 4`, { fpBytes });
  }
  const quantized = tokens - fpTokens;
  const breakdown: AverageBitsBreakdown = { codes: 0, meta: 0, fp: 0, permutations: 0, total: 0 };
  for (const [name, stream] of [
    ['k', input.k],
    ['v', input.v],
  ] as const) {
    const layout = stream.layout;
    if (layout.channels !== channels) {
      throw new SkvqError(
        'SHAPE_MISMATCH',
        `averageBits: ${name} layout has ${layout.channels} channels but channels is ${channels}`,
        { details: { stream: name, layoutChannels: layout.channels, channels } },
      );
    }
    breakdown.codes += layers * quantized * rowCodeBytes(layout);
    if (layout.kind === 'token-group') {
      breakdown.meta += layers * quantized * metaBytesPerUnit(layout);
      breakdown.permutations +=
        layers * INDEX_BYTES * ((layout.perm === null ? 0 : channels) + groupCount(layout) + 1);
    } else {
      if (quantized % layout.blockTokens !== 0) {
        invalid(
          `${name}: ${quantized} quantized tokens are not whole blocks of ${layout.blockTokens}; count the partial block in fpTokens`,
          { quantized, blockTokens: layout.blockTokens },
        );
      }
      breakdown.meta += layers * (quantized / layout.blockTokens) * metaBytesPerUnit(layout);
    }
    breakdown.fp += layers * fpTokens * channels * fpBytes;
  }
  breakdown.total = breakdown.codes + breakdown.meta + breakdown.fp + breakdown.permutations;
  const elements = tokens * layers * 2 * channels;
  return { bits: (breakdown.total * 8) / elements, elements, breakdown };
}
