import type { BackendPlugin } from '@skvq/core';
import {
  CPU_BACKEND_NAME,
  CPU_PRIORITY,
  CPU_REFERENCE_BACKEND_NAME,
  CPU_REFERENCE_PRIORITY,
} from './constants.js';
import { fastKernels, referenceKernels } from './kernels.js';

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
    'fast pure-JavaScript kernels attending over packed codes without dequantizing the cache',
  priority: CPU_PRIORITY,
  kernels: fastKernels,
};
