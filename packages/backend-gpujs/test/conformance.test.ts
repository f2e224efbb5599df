import { describeBackend } from '@skvq/backend-conformance/vitest';
import { createGpujsBackend } from '../src/index.js';
import { probeMode } from './helpers.js';

// The shared suite in each gpu.js mode Node offers. Each backend is created with
// `require: mode`, so a run that silently became gpu.js's CPU fallback fails init instead
// of passing as "headlessgl". CPU and WebAssembly modes are always available in Node;
// headless-gl needs the `gl` build and an X display (Xvfb), both of which CI provides
// (ciMustRun). WebGL2 is checked in headless Chromium by apps/web-demo.
for (const mode of ['cpu', 'webasm', 'headlessgl'] as const) {
  const probe = await probeMode(mode);
  await probe.backend?.dispose?.();
  console.info(`gpujs conformance, mode ${mode}: ${probe.reason}`);
  describeBackend(`gpujs (mode ${mode})`, () => createGpujsBackend({ mode, require: mode }), {
    skip: probe.backend === undefined ? { reason: probe.reason, ciMustRun: true } : false,
  });
}
