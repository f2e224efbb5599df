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
export { assertSignature, CudaDevice, DeviceBuffer, type LaunchConfig } from './device.js';
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
export { KernelArgs } from './params.js';
export { enqueueDequantize, enqueueQuantizeBlock, enqueueQuantizeTokens } from './quantize-ops.js';
export {
  buildLocations,
  type DeviceSegment,
  MAX_SEGMENT_ROWS,
  MAX_SEGMENTS,
  packSegmentDescriptors,
  SEGMENT_DESCRIPTOR_BYTES,
  SegmentTable,
} from './segments.js';
export { type ArgType, KERNEL_SIGNATURES, PTX_PARAM_TYPE } from './signatures.js';
