import { describeBackend } from '@skvq/backend-conformance/vitest';
import { createWebgpuBackend } from '../src/index.js';
import { probeWebgpu } from './helpers.js';

// The shared suite: quantize kernels bit exact, dequantize equal, attention within the
// suite's tolerance of cpu-reference, typed errors. WebGPU through Mesa is something CI
// provides, so a missing adapter fails there (ciMustRun) and skips visibly elsewhere.
const probe = await probeWebgpu();
await probe.backend?.dispose?.();

describeBackend('webgpu', () => createWebgpuBackend(), {
  skip: probe.backend === undefined ? { reason: probe.reason, ciMustRun: true } : false,
});
