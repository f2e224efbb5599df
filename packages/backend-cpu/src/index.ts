export { cpuBackend, cpuReferenceBackend } from './backends.js';
export { byteDecodeTable, decodeRow } from './code-tables.js';
export {
  CPU_BACKEND_NAME,
  CPU_PRIORITY,
  CPU_REFERENCE_BACKEND_NAME,
  CPU_REFERENCE_PRIORITY,
} from './constants.js';
export { dequantizeKernelFast, dequantizeKernelReference } from './dequantize.js';
export { attendDecodeFast, attendPrefillFast, PREFILL_SCORE_BUDGET } from './fast-attention.js';
export { quantizeTokensFast } from './fast-quantize.js';
export { fp16Table } from './fp16-table.js';
export { FUSED_CHUNK_TOKENS } from './fused-decode.js';
export { fastKernels, referenceKernels } from './kernels.js';
export { type LayoutPlan, layoutPlan } from './layout-plan.js';
export { decodeMetaRun, fp8Table } from './meta-decode.js';
export { attendDecodeReference, attendPrefillReference } from './reference-attention.js';
export { checkDequantizeInputs, dequantizeReference } from './reference-rows.js';
export { ROPE_TABLE_STEP, type RopeTable, ropeTable, rotateRow } from './rope-tables.js';
export {
  type CheckedAttrs,
  checkAttention,
  checkAttrs,
  checkPosition,
  checkPrefillRange,
} from './validate-attention.js';
export { setFusedWasmEnabled } from './wasm-module.js';
