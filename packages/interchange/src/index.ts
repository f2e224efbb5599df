export { writeAtomically } from './atomic.js';
export {
  type CalibrateActivationsOptions,
  calibrateFromActivations,
  openActivations,
} from './calibrate.js';
export { type CaptureTensorsOptions, captureMetadata, captureTensors } from './capture.js';
export {
  DTYPE_BYTES,
  type Dtype,
  decodeFloats,
  encodeHalves,
  FLOAT_DTYPES,
  type FloatDtype,
  halfToFloat,
  toBfloat16Bits,
  toHalfBits,
} from './dtypes.js';
export {
  type CalibrationExport,
  type ExportedTensor,
  readCalibrationExport,
} from './export-read.js';
export {
  EXPORT_FORMAT,
  EXPORT_FORMATS,
  EXPORT_VERSION,
  type ExportFormat,
  exportMetadata,
  exportPaths,
  exportTensors,
  parseExportFormats,
  writeCalibrationExports,
} from './exports.js';
export { METADATA_KEYS } from './metadata.js';
export { readNpyHeader } from './npy.js';
export {
  ACTIVATION_TENSOR,
  type ActivationOverrides,
  type ActivationPlan,
  KEYS_STATES,
  type KeysState,
  type LayerPart,
  POSITIONS_TENSOR,
  planActivations,
  UNKNOWN_FINGERPRINT,
} from './plan.js';
export { readSafetensorsHeader, type SafetensorsHeader } from './safetensors.js';
export { type ActivationSource, collectSources, NPY_METADATA_FILE } from './sources.js';
export {
  CHUNK_BYTES,
  queriesFromKeys,
  type StreamProgress,
  streamActivations,
  unrotateRows,
} from './stream.js';
export { FileReaders, type TensorEntry } from './tensor-file.js';
export {
  type TensorChunk,
  type TensorData,
  type TensorToWrite,
  type WriteDtype,
  writeNpy,
  writeSafetensors,
} from './write.js';
