/** Moved to @skvq/core (uses each backend's label()); re-exported here for compatibility. */
export { backendLabel } from '@skvq/core';
export { attendDecodeGpujs, attendPrefillGpujs } from './attention.js';
export { createGpujsBackend, type GpujsBackend, type GpujsBackendOptions } from './backend.js';
export {
  ATTENTION_CHUNK,
  GPUJS_BACKEND_NAME,
  GPUJS_PRIORITY,
  MAX_PREFILL_ROWS,
  MAX_SLICE_TOKENS,
  QUANT_BOUNDARY_MARGIN,
} from './constants.js';
export { GpujsContext, type KernelSpec } from './context.js';
export { dequantizeGpujs } from './dequantize.js';
export {
  GPUJS_MODES,
  type GpujsInstance,
  type GpujsKernelFunction,
  type GpujsMode,
  type GpujsModule,
  type GpujsRequestedMode,
  modeOfKernel,
} from './modes.js';
export { quantizeBlockGpujs, quantizeTokensGpujs } from './quantize.js';
export { MAX_STORE_BUFFER_BYTES } from './store/buffer.js';
export { TransferCounter } from './transfers.js';
