import type { BackendPlugin } from '@skvq/core';
import {
  CPU_BACKEND_NAME,
  CPU_PRIORITY,
  CPU_REFERENCE_BACKEND_NAME,
  CPU_REFERENCE_PRIORITY,
} from './constants.js';
import { fastKernels, referenceKernels } from './kernels.js';
import { prepareFusedAttentionWasm } from './wasm-module.js';

/** The reference backend ('cpu-reference', priority -10): the oracle of the conformance suite. */
export const cpuReferenceBackend: BackendPlugin = {
  kind: 'backend',
  name: CPU_REFERENCE_BACKEND_NAME,
  description: 'scalar reference kernels (float64 attention); the oracle for every backend',
  priority: CPU_REFERENCE_PRIORITY,
  kernels: referenceKernels,
};

/** The fast CPU backend ('cpu', priority 0): pure JavaScript, usable everywhere. */
export const cpuBackend: BackendPlugin = {
  kind: 'backend',
  name: CPU_BACKEND_NAME,
  description:
    'fast kernels (WebAssembly SIMD decode attention, JavaScript elsewhere) attending over packed codes without dequantizing the cache',
  priority: CPU_PRIORITY,
  // Compiles the WebAssembly decode kernel ahead of use (never fails: without WebAssembly
  // SIMD the JavaScript kernels run).
  init: prepareFusedAttentionWasm,
  kernels: fastKernels,
};
