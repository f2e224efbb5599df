export {
  type AverageBitsBreakdown,
  type AverageBitsInput,
  type AverageBitsResult,
  averageBits,
  type StreamStorage,
} from './avg-bits.js';
export { assertFinite, assertSpan } from './buffers.js';
export { formatOf, PACKED_FORMATS, type PackedFormat } from './formats.js';
export {
  META_MAX,
  META_MIN_POSITIVE,
  type MetaRounding,
  readMeta,
  roundMeta,
  writeMeta,
} from './meta.js';
export {
  decodeFp8E4M3,
  decodeFp16,
  encodeFp8E4M3,
  encodeFp16,
} from './minifloat.js';
export { packCodes, unpackCodes } from './pack.js';
export { GROUP_CLIP_NAME, groupClipQuantizer } from './plugin.js';
export {
  dequantizeValue,
  type QuantParams,
  quantizeValue,
  quantParams,
  SCALE_FLOOR,
} from './quant-params.js';
export {
  dequantizeTokenReference,
  dequantizeTokensReference,
  quantizeTokenReference,
  quantizeTokensReference,
} from './token-group.js';
export { assertAlpha, assertPositiveInt, validateTokenGroupLayout } from './validate.js';
