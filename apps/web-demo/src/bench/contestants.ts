// The backends bench.html times, each started as the demo and the conformance page start
// them: the CPU backend with its WebAssembly SIMD decode kernel compiled ahead (init), gpu.js
// required to run in WebGL2 (never its silent JavaScript fallback), WebGPU on navigator.gpu.
import { cpuBackend } from '@skvq/backend-cpu';
import { createGpujsBackend } from '@skvq/backend-gpujs';
import { createWebgpuBackend } from '@skvq/backend-webgpu';
import { type BackendPlugin, describeError } from '@skvq/core';
import type { BenchContestant } from './params.js';

export interface ReadyContestant {
  id: BenchContestant;
  /** The row label, naming what actually runs (e.g. `gpujs webgl2`). */
  label: string;
  backend: BackendPlugin;
  /** What ran the kernels: WASM SIMD or not, the GL renderer, the WebGPU adapter. */
  detail: string;
  dispose(): Promise<void>;
}

export interface MissingContestant {
  id: BenchContestant;
  reason: string;
}

/**
 * A tiny module using one v128 instruction (i32x4.splat): whether this engine validates
 * WebAssembly SIMD, i.e. whether the CPU backend runs its fused WASM kernel here.
 */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 17,
  11,
]);

export function wasmSimdAvailable(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/** The WebGL2 renderer string of this browser (what gpu.js's webgl2 mode draws with). */
export function webgl2Renderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (gl === null) return 'no WebGL2 context';
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

export async function webgpuAdapterName(): Promise<string | undefined> {
  const adapter = await navigator.gpu?.requestAdapter();
  const info = adapter?.info;
  return info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : undefined;
}

async function startCpu(): Promise<ReadyContestant> {
  await cpuBackend.init?.();
  const simd = wasmSimdAvailable();
  return {
    id: 'cpu',
    label: simd ? 'cpu backend (WASM SIMD)' : 'cpu backend (JavaScript, no WASM SIMD)',
    backend: cpuBackend,
    detail: simd ? 'fused WebAssembly SIMD decode kernel' : 'JavaScript kernels',
    async dispose() {},
  };
}

async function startGpujs(): Promise<ReadyContestant> {
  // require: init() throws BACKEND_INIT_FAILED when gpu.js would run anywhere but WebGL2.
  const plugin = createGpujsBackend({ mode: 'webgl2', require: 'webgl2' });
  await plugin.init();
  return {
    id: 'gpujs',
    label: `gpujs ${plugin.mode()}`,
    backend: plugin,
    detail: `gpu.js ${plugin.mode()} on ${webgl2Renderer()}`,
    async dispose() {
      plugin.dispose();
    },
  };
}

async function startWebgpu(): Promise<ReadyContestant> {
  if (navigator.gpu === undefined) throw new Error('navigator.gpu is undefined in this browser');
  const plugin = createWebgpuBackend();
  await plugin.init?.();
  return {
    id: 'webgpu',
    label: 'webgpu',
    backend: plugin,
    detail: `WebGPU on ${(await webgpuAdapterName()) ?? 'an unnamed adapter'}`,
    async dispose() {
      await plugin.dispose?.();
    },
  };
}

const STARTERS: Record<BenchContestant, () => Promise<ReadyContestant>> = {
  cpu: startCpu,
  gpujs: startGpujs,
  webgpu: startWebgpu,
};

/** Starts one contestant, or says why it cannot run in this browser. */
export async function startContestant(
  id: BenchContestant,
): Promise<ReadyContestant | MissingContestant> {
  try {
    return await STARTERS[id]();
  } catch (error) {
    return { id, reason: describeError(error) };
  }
}
