import {
  type AttendKernel,
  attendKernel,
  type BackendPlugin,
  KERNEL_NAMES,
  type KernelName,
  KernelNotImplementedError,
  type Kernels,
  SkvqError,
} from '@skvq/core';

/** The kernel `name` of `backend`, or a typed error naming kernel and backend. */
export function requireKernel<N extends KernelName>(
  backend: BackendPlugin,
  name: N,
): NonNullable<Kernels[N]> {
  checkKernelsObject(backend);
  const kernel = backend.kernels[name];
  if (typeof kernel !== 'function') {
    const available = KERNEL_NAMES.filter((k) => typeof backend.kernels[k] === 'function');
    throw new KernelNotImplementedError(name, backend.name, available);
  }
  return kernel.bind(backend.kernels) as NonNullable<Kernels[N]>;
}

/**
 * The backend's one attention job (core attendKernel: its `attend`, or attendDecode and
 * attendPrefill of a backend written before `attend`), or a typed error naming the kernel.
 */
export function requireAttend(backend: BackendPlugin): AttendKernel {
  checkKernelsObject(backend);
  const attend = attendKernel(backend.kernels);
  if (attend === undefined) {
    const available = KERNEL_NAMES.filter((k) => typeof backend.kernels[k] === 'function');
    throw new KernelNotImplementedError('attend', backend.name, available);
  }
  return attend;
}

function checkKernelsObject(backend: BackendPlugin): void {
  if (backend === null || typeof backend !== 'object' || typeof backend.kernels !== 'object') {
    throw new SkvqError('INVALID_PLUGIN', `cache: backend must be a BackendPlugin with kernels`);
  }
}
