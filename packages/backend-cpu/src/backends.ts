import type { BackendPlugin, Kernels } from '@skvq/core';
import {
  CPU_BACKEND_NAME,
  CPU_PRIORITY,
  CPU_REFERENCE_BACKEND_NAME,
  CPU_REFERENCE_PRIORITY,
} from './constants.js';
import { fastKernels, referenceKernels } from './kernels.js';
import { fusedAttentionWasm, prepareFusedAttentionWasm } from './wasm-module.js';

/** The reference backend ('cpu-reference', priority -10): the oracle of the conformance suite. */
export const cpuReferenceBackend: BackendPlugin = {
  kind: 'backend',
  name: CPU_REFERENCE_BACKEND_NAME,
  description: 'scalar reference kernels (float64 attention); the oracle for every backend',
  priority: CPU_REFERENCE_PRIORITY,
  label: () => `${CPU_REFERENCE_BACKEND_NAME} (JavaScript, float64)`,
  kernels: referenceKernels,
};

export interface CpuBackendOptions {
  /**
   * Run decode attention through the WebAssembly SIMD module where the engine has it
   * (default true). False keeps every kernel in plain JavaScript, e.g. to measure or test
   * that path on an engine that has SIMD.
   */
  fused?: boolean;
}

/**
 * A fast CPU backend ('cpu', priority 0): pure JavaScript, with decode attention in
 * WebAssembly SIMD where available (unless `fused: false`). Each call makes its own plugin
 * object; `cpuBackend` is the default one.
 */
export function createCpuBackend(options: CpuBackendOptions = {}): BackendPlugin {
  const fused = options.fused ?? true;
  const kernels: Kernels = fastKernels({ fused });
  return {
    kind: 'backend',
    name: CPU_BACKEND_NAME,
    description: fused
      ? 'fast kernels (WebAssembly SIMD decode attention, JavaScript elsewhere) attending over packed codes without dequantizing the cache'
      : 'fast JavaScript kernels attending over packed codes without dequantizing the cache',
    priority: CPU_PRIORITY,
    // Compiles the WebAssembly decode kernel ahead of use (never fails: without WebAssembly
    // SIMD the JavaScript kernels run).
    ...(fused ? { init: prepareFusedAttentionWasm } : {}),
    label: () =>
      fused && fusedAttentionWasm() !== null
        ? `${CPU_BACKEND_NAME} (WebAssembly SIMD decode)`
        : `${CPU_BACKEND_NAME} (JavaScript)`,
    kernels,
  };
}

/** The default fast CPU backend: `createCpuBackend()`. */
export const cpuBackend: BackendPlugin = createCpuBackend();
