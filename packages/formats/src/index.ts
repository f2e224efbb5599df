// The arithmetic contract every backend honours: layouts checked, codes packed, metadata
// stored, values quantized and read back, all bit for bit. Each export is named here so
// the surface is readable in one place (README.md lists what each group is for).

export { assertFinite, assertSpan } from './buffers.js';
export { dequantizeBlockReference, quantizeBlockReference } from './channel-block.js';
export { byteDecodeTable, decodeRow } from './code-tables.js';
export { decodeMetaRun, fp8Table, fp16Table } from './decode-tables.js';
// The fast fp16 path of full-precision rows (tested against the codec above).
export { decodeF16Array, encodeF16Array, f16BitsToF32, f32ToF16Bits } from './fp16-fast.js';
// What fast kernels share: layout plans, lookup tables, RoPE tables.
export { type LayoutPlan, layoutPlan } from './layout-plan.js';
export {
  META_MAX,
  META_MIN_POSITIVE,
  type MetaRounding,
  readMeta,
  roundMeta,
  writeMeta,
} from './meta.js';
// Metadata: the one fp16 and the one fp8 E4M3FN codec, and stored scale/zero values.
export { decodeFp8E4M3, decodeFp16, encodeFp8E4M3, encodeFp16 } from './minifloat.js';
export { packCodes, unpackCodes } from './pack.js';
// Packed code formats (bit diagrams beside the code) and their packing.
export { formatOf, PACKED_FORMATS, type PackedFormat } from './packed-formats.js';
// The quantization formula and the scalar references of both layout kinds.
export {
  dequantizeValue,
  type QuantParams,
  quantizeValue,
  quantParams,
  SCALE_FLOOR,
} from './quant-params.js';
export {
  checkDequantizeInputs,
  dequantizeReference,
  segmentRowsReference,
} from './reference-rows.js';
export { ROPE_TABLE_STEP, type RopeTable, ropeTable, rotateRow } from './rope-tables.js';
export {
  dequantizeTokenReference,
  dequantizeTokensReference,
  quantizeTokenReference,
  quantizeTokensReference,
} from './token-group.js';
// Layout checks (one validator per kind, one `validateLayout` choosing between them).
export {
  assertAlpha,
  assertPositiveInt,
  validateChannelBlockLayout,
  validateLayout,
  validateTokenGroupLayout,
} from './validate.js';

// Attention inputs: checked the same way by every backend.
export {
  type CheckedAttrs,
  checkAttendJob,
  checkAttention,
  checkAttrs,
  checkPosition,
  checkPrefillRange,
  checkSegments,
  runJob,
} from './validate-attention.js';
