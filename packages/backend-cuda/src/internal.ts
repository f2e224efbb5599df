// Everything the package's tests and scripts/gpu-bench.mjs use: launch planning, device
// buffers, kernel arguments, segment tables. Built to dist/internal.js but not part of the
// package's exports (index.ts is the public surface, imported from there), so it may change in
// any release.
export {
  ACC_PER_THREAD,
  ATTENTION_SHARED_BUDGET,
  ATTENTION_THREADS,
  type AttentionCall,
  AttentionRunner,
  type AttentionRunnerOptions,
  attendSharedBytes,
  chooseChunkLength,
  chooseTileTokens,
  MAX_QUERY_HIDDEN,
  rotateQueries,
} from './attention.js';
export { createCudaStorage } from './cuda-storage.js';
export {
  assertSignature,
  CudaDevice,
  DeviceBuffer,
  type LaunchConfig,
  type TransferCounter,
} from './device.js';
export { DeviceLayout } from './device-layout.js';
export { cudaError, throwKernelErrors } from './errors.js';
export {
  bitsCode,
  layoutNumbers,
  META_CODES,
  SEGMENT_KIND,
} from './layout-codes.js';
export {
  type AddonKind,
  addonPath,
  type CudaDeviceInfo,
  emulatorAddonPath,
  KERNEL_MODULES,
  type KernelModule,
  kernelImagePath,
  nativeBuildDir,
} from './native.js';
export { type DevicePointer, KernelArgs } from './params.js';
export {
  enqueueDequantize,
  enqueueHalfToFloat,
  enqueueQuantizeBlock,
  enqueueQuantizeTokens,
} from './quantize-ops.js';
export {
  changedRanges,
  type ResidentBuffer,
  ResidentBytes,
  ResidentSegmentTable,
} from './resident-bytes.js';
export {
  buildLocations,
  type DeviceSegment,
  type DeviceSegmentTable,
  LOCATION_SEGMENT_SHIFT,
  locationWord,
  MAX_SEGMENT_ROWS,
  MAX_SEGMENTS,
  packSegmentDescriptors,
  SEGMENT_DESCRIPTOR_BYTES,
  SegmentTable,
} from './segments.js';
export { type ArgType, KERNEL_SIGNATURES, PTX_PARAM_TYPE } from './signatures.js';
export { storeMetaUnits, streamTableKey } from './store-kernels.js';
export { CudaStoreState, layoutKey, MAX_RESIDENT_TABLES, runnerKey } from './store-state.js';
export {
  CudaStoreBuffer,
  liveBuffer,
  precisionBytes,
  type ResolvedView,
  resolveRange,
  resolveRows,
  resolveView,
} from './store-views.js';
