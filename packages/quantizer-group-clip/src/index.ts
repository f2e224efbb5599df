/**
 * Compatibility re-exports: the packed formats, metadata codecs and the token-group
 * reference moved to @skvq/formats (the arithmetic contract every backend shares). Import
 * them from there; these names stay here for existing users until the next major.
 */
export {
  assertAlpha,
  assertFinite,
  assertPositiveInt,
  assertSpan,
  decodeFp8E4M3,
  decodeFp16,
  dequantizeTokenReference,
  dequantizeTokensReference,
  dequantizeValue,
  encodeFp8E4M3,
  encodeFp16,
  formatOf,
  META_MAX,
  META_MIN_POSITIVE,
  type MetaRounding,
  PACKED_FORMATS,
  type PackedFormat,
  packCodes,
  type QuantParams,
  quantizeTokenReference,
  quantizeTokensReference,
  quantizeValue,
  quantParams,
  readMeta,
  roundMeta,
  SCALE_FLOOR,
  unpackCodes,
  validateTokenGroupLayout,
  writeMeta,
} from '@skvq/formats';
export {
  type AverageBitsBreakdown,
  type AverageBitsInput,
  type AverageBitsResult,
  averageBits,
  type StreamStorage,
} from './avg-bits.js';
export { GROUP_CLIP_NAME, groupClipQuantizer } from './plugin.js';
