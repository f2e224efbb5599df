import { cpuBackend, cpuReferenceBackend, createCpuBackend } from '@skvq/backend-cpu';
import type { BackendPlugin } from '@skvq/core';
import { describeBackend } from '../src/vitest.js';

describeBackend('cpu', () => cpuBackend);
describeBackend('cpu-reference', () => cpuReferenceBackend);
// The same backend with decode attention kept in JavaScript (no WebAssembly module).
describeBackend('cpu (fused: false)', () => createCpuBackend({ fused: false }));

// A backend that cannot run here: its whole suite is registered as skipped, with the
// reason in every test name, proving skips are reported rather than silently dropped.
const unavailable: BackendPlugin = {
  kind: 'backend',
  name: 'fake-unavailable',
  priority: 100,
  kernels: {},
};
describeBackend('fake-unavailable', () => unavailable, {
  skip: { reason: 'demonstrates a skip' },
});

// A `ciMustRun` skip is not demonstrated here: CI sets SKVQ_REQUIRE_CI_FEATURES=1, where it
// would (correctly) fail. test/skip.test.ts checks that decision instead.
