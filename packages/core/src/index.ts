// The contracts of SKVQ, named one by one (README.md explains each group).

// Bit widths, metadata formats and the byte size of packed codes.
export {
  assertBitWidth,
  assertMetaFormat,
  type BitWidth,
  bitsPerCode,
  codeBytes,
  isBitWidth,
  META_BYTES,
  type MetaFormat,
  maxQ,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
} from './bits.js';

// What every KV cache offers (AttentionCache) and its byte report.
export type {
  AttentionCache,
  CacheBytes,
} from './cache-contract.js';

// The calibration artifact (SKVQ's permutations, groups, clip ratios) and its parser.
export {
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CalibrationArtifact,
  type CalibrationExpectations,
  calibratedLayout,
  checkCalibrationFor,
  type LayerCalibration,
  type ModelIdentity,
  parseCalibration,
  type StreamCalibration,
  serializeCalibration,
} from './calibration.js';

// Typed errors: every bad input throws an SkvqError with a code.
export {
  type BackendFailure,
  describeError,
  isSkvqError,
  KernelNotImplementedError,
  listAllowed,
  NoUsableBackendError,
  SkvqError,
  type SkvqErrorCode,
  type SkvqErrorOptions,
} from './errors.js';

// Model KV geometry, its checks, and the Llama-2-7B layer every benchmark uses.
export {
  geometryDifferences,
  gqaGroup,
  type KvGeometry,
  kvHidden,
  LLAMA2_7B_LAYER,
  LLAMA2_7B_LAYERS,
  queryHidden,
  type RopeConfig,
  type RopeStyle,
  sameGeometry,
  validateGeometry,
} from './geometry.js';
// The kernel contract every backend implements.
export {
  type AttendDecodeInputs,
  type AttendInputs,
  type AttendKernel,
  type AttendPrefillInputs,
  type AttentionAttrs,
  attendKernel,
  type DequantizeInputs,
  decodeAndPrefill,
  decodeJob,
  type FpSegment,
  KERNEL_NAMES,
  type KernelName,
  type Kernels,
  type KvSegment,
  type MaybePromise,
  type PackedSegment,
  prefillJob,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
} from './kernels.js';
// Declarative quantized layouts (validated and packed by @skvq/formats).
export {
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  groupCount,
  metaBytesPerUnit,
  type QuantLayout,
  rowCodeBytes,
  type TokenGroupLayout,
  tokensPerMetaUnit,
} from './layout.js';
// Plugin contracts: quantizer, policy, calibrator, backend, adapter.
export {
  type AdapterPlugin,
  type BackendPlugin,
  backendLabel,
  type CalibrationBatch,
  type CalibrationProgress,
  type CalibrationSession,
  type CalibratorOptions,
  type CalibratorPlugin,
  type FilterRule,
  type KvStream,
  type ModelSource,
  PLUGIN_KINDS,
  type Plugin,
  type PluginBase,
  type PluginByKind,
  type PluginKind,
  type PolicyDecision,
  type PolicyOptions,
  type PolicyPlugin,
  type QuantizerContext,
  type QuantizerPlugin,
  type TokenPolicy,
} from './plugins.js';
// The one seeded PRNG of the project.
export { mulberry32 } from './random.js';
// The plugin registry and backend resolution.
export {
  createRegistry,
  getKernel,
  implementedKernels,
  type Registry,
  type ResolveBackendOptions,
} from './registry.js';
// Rotary position embedding shared by adapter, calibrator and kernels.
export {
  applyRope,
  ropeInverseFrequencies,
  ropePair,
} from './rope.js';
// Backend-owned storage: where caches keep their bytes, and the kernels over store views.
export {
  type BackendStorage,
  backendStorage,
  type HostStorageOptions,
  hostBytes,
  hostStorage,
  NO_TRANSFERS,
  type StoreAttendInputs,
  type StoreBuffer,
  type StoreFpSegment,
  type StoreKernels,
  type StorePackedSegment,
  type StorePurpose,
  type StoreQuantizeBlockInputs,
  type StoreQuantizeTokensInputs,
  type StoreRows,
  type StoreSegment,
  type StoreView,
  type TransferStats,
  transferStatsOf,
} from './storage.js';

// Small tensor helpers.
export {
  assertFinite,
  assertLength,
  elementCount,
  type Tensor,
  type TypedArray,
  tensor,
} from './tensor.js';
