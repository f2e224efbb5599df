import { describeStoreBackend } from '@skvq/backend-conformance/vitest';
import { createGpujsBackend } from '../src/index.js';
import { probeMode } from './helpers.js';

// The shared store suite on gpu.js's real GPU mode in Node: headless-gl (an Xvfb display is
// started when none is set). The backend is created with `require: 'headlessgl'`, so a run
// that silently fell back to gpu.js's CPU mode fails init instead of passing. CI provides
// the gl build and Xvfb (ciMustRun); elsewhere a missing one skips with the reason.
// storeAttend is left out to keep this file near a minute on CI's 2 cores (headless-gl
// compiles a program per kernel variant): store.test.ts already runs the store attention
// kernels on every attendDecode / attendPrefill conformance case, in every mode.
const probe = await probeMode('headlessgl');
await probe.backend?.dispose?.();
console.info(`gpujs store conformance, mode headlessgl: ${probe.reason}`);

describeStoreBackend(
  'gpujs (mode headlessgl)',
  () => createGpujsBackend({ mode: 'headlessgl', require: 'headlessgl' }),
  {
    skip: probe.backend === undefined ? { reason: probe.reason, ciMustRun: true } : false,
    only: ['storage', 'storeQuantize', 'cache', 'transfers'],
  },
);
