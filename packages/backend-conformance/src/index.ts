// The checks, generators and case builders, free of any test runner (a browser page runs
// them too). The vitest wrapper, describeBackend, is the '@skvq/backend-conformance/vitest'
// subpath, so importing this entry never loads vitest.
export {
  BENCH_SINKS,
  BENCH_WINDOW,
  benchDenseStream,
  benchLayout,
  benchPackedStream,
  benchPositions,
  benchRows,
} from './bench-streams.js';
export {
  type AttentionCase,
  type AttentionCaseSpec,
  attentionCaseSpecs,
  buildAttentionCase,
  type PieceSpec,
  prefillCaseSpecs,
} from './cases.js';
export {
  type Check,
  type CheckResult,
  CONFORMANCE_AREAS,
  type ConformanceArea,
  conformanceChecks,
  runChecks,
} from './checks.js';
export { ATTENTION_RELATIVE_TOLERANCE, firstDifference, relativeError } from './compare.js';
export {
  channelBlockLayout,
  DEFAULT_ROPE_THETA,
  DEFAULT_TEST_ALPHA,
  randomBytes,
  randomGroupOffsets,
  randomTokenGroupLayout,
  randomTokens,
  type TokenGroupLayoutOptions,
  testGeometry,
  toFp16,
} from './generators.js';
export {
  createOpaqueStoreBackend,
  OPAQUE_STORE_BACKEND_NAME,
  type OpaqueStoreBackend,
  type OpaqueStoreOptions,
} from './opaque-store.js';
export { type Rng, randomInt, randomNormal, randomPermutation } from './rng.js';
export { buildSegments, packSegment, type SegmentPiece } from './segments.js';
export { DEFAULT_TRANSFER_CONTEXTS } from './store-cache-checks.js';
export {
  deviceStorage,
  STORE_CONFORMANCE_AREAS,
  type StoreCheck,
  type StoreConformanceArea,
  type StoreConformanceOptions,
  storeConformanceChecks,
} from './store-checks.js';
