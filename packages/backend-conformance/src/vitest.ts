// The conformance suite as vitest tests: `import { describeBackend } from
// '@skvq/backend-conformance/vitest'` in a backend's test file.
export {
  type ConformanceSkip,
  type DescribeBackendOptions,
  describeBackend,
  REQUIRE_CI_FEATURES_ENV,
  skipDecision,
} from './describe-backend.js';
// The store suite of backends with device storage (BackendPlugin.storage, residence 'device').
export {
  type DescribeStoreBackendOptions,
  describeStoreBackend,
} from './describe-store-backend.js';
