// Page entry of conformance.html: runs the shared conformance checks against one backend and
// publishes the outcome on window.__skvqConformance. `?backend=webgpu` (the default) checks
// the WebGPU backend on navigator.gpu; `?backend=gpujs` checks the gpu.js backend required
// to run in WebGL2, so a silent gpu.js fallback to its CPU kernels is reported, never checked.

import { type CheckResult, conformanceChecks, runChecks } from '@skvq/backend-conformance';
import { createGpujsBackend } from '@skvq/backend-gpujs';
import { createWebgpuBackend } from '@skvq/backend-webgpu';
import { describeError } from '@skvq/core';

/** Backends this page can check, as `?backend=` names them. */
export const CONFORMANCE_BACKENDS = ['webgpu', 'gpujs'] as const;
export type ConformanceBackend = (typeof CONFORMANCE_BACKENDS)[number];

export interface ConformanceReport {
  /** The backend checked (from `?backend=`). */
  backend: ConformanceBackend;
  /**
   * 'done' when the checks ran; 'unavailable' when the backend could not start here (no
   * WebGPU adapter; gpu.js not running in WebGL2), with the reason; 'error' otherwise.
   */
  status: 'done' | 'unavailable' | 'error';
  reason?: string;
  /** What actually ran the checks: the WebGPU adapter, or the gpu.js mode and its GL renderer. */
  adapter?: string;
  /** The mode the kernels actually ran in: 'webgpu', or the gpu.js mode the backend detected. */
  mode?: string;
  /** gpu.js: kernels compiled and run, each checked by the backend to have run in `mode`. */
  kernels?: number;
  results: CheckResult[];
}

declare global {
  interface Window {
    __skvqConformance?: ConformanceReport;
  }
}

async function adapterName(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter();
  const info = adapter?.info;
  return info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : 'unknown';
}

/** The WebGL2 renderer string of this browser (what gpu.js's webgl2 mode draws with). */
function webgl2Renderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (gl === null) return 'no WebGL2 context';
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

async function checkWebgpu(): Promise<ConformanceReport> {
  const backend = 'webgpu';
  if (navigator.gpu === undefined) {
    return {
      backend,
      status: 'unavailable',
      reason: 'navigator.gpu is undefined in this browser',
      results: [],
    };
  }
  const plugin = createWebgpuBackend();
  try {
    await plugin.init?.();
  } catch (error) {
    return { backend, status: 'unavailable', reason: describeError(error), results: [] };
  }
  try {
    const results = await runChecks(plugin, conformanceChecks());
    return { backend, status: 'done', adapter: await adapterName(), mode: 'webgpu', results };
  } finally {
    await plugin.dispose?.();
  }
}

async function checkGpujs(): Promise<ConformanceReport> {
  const backend = 'gpujs';
  // require: init() throws BACKEND_INIT_FAILED when gpu.js would run anywhere but WebGL2.
  const plugin = createGpujsBackend({ mode: 'webgl2', require: 'webgl2' });
  try {
    await plugin.init();
  } catch (error) {
    return { backend, status: 'unavailable', reason: describeError(error), results: [] };
  }
  try {
    const results = await runChecks(plugin, conformanceChecks());
    return {
      backend,
      status: 'done',
      adapter: `gpu.js ${plugin.mode()} on ${webgl2Renderer()}`,
      mode: plugin.mode(),
      kernels: plugin.context().compiledKernels,
      results,
    };
  } finally {
    plugin.dispose();
  }
}

function requestedBackend(): ConformanceBackend {
  const asked = new URLSearchParams(location.search).get('backend') ?? 'webgpu';
  if (!CONFORMANCE_BACKENDS.includes(asked as ConformanceBackend)) {
    throw new Error(`?backend=${asked} is unknown; expected ${CONFORMANCE_BACKENDS.join(', ')}`);
  }
  return asked as ConformanceBackend;
}

const out = document.getElementById('out')!;
let asked: ConformanceBackend = 'webgpu';
Promise.resolve()
  .then(() => {
    asked = requestedBackend();
    document.title = `skvq ${asked} conformance`;
    return asked === 'gpujs' ? checkGpujs() : checkWebgpu();
  })
  .catch(
    (error: unknown): ConformanceReport => ({
      backend: asked,
      status: 'error',
      reason: describeError(error),
      results: [],
    }),
  )
  .then((report) => {
    window.__skvqConformance = report;
    const failed = report.results.filter((r) => !r.pass).length;
    out.textContent = `${report.backend}${report.mode ? ` (${report.mode})` : ''} ${report.status}: ${report.results.length - failed} passed, ${failed} failed${report.reason ? ` (${report.reason})` : ''}`;
  });
