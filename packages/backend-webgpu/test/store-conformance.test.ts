import { describeStoreBackend } from '@skvq/backend-conformance/vitest';
import { createWebgpuBackend } from '../src/index.js';
import { probeWebgpu } from './helpers.js';

// The shared store suite (storage byte moves, store quantize bit exact, store attend, a
// QuantizedCache on the device equal to the CPU reference cache with saveCacheAsync/loadCache
// bit for bit, and one decode step moving the same bytes at 4k and 32k tokens) on Mesa in
// Node. WebGPU through Mesa is something CI provides: a missing adapter fails there
// (ciMustRun) and skips visibly elsewhere.
const probe = await probeWebgpu();
await probe.backend?.dispose?.();

describeStoreBackend('webgpu', () => createWebgpuBackend(), {
  skip: probe.backend === undefined ? { reason: probe.reason, ciMustRun: true } : false,
});
