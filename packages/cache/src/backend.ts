import {
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
  if (backend === null || typeof backend !== 'object' || typeof backend.kernels !== 'object') {
    throw new SkvqError('INVALID_PLUGIN', `cache: backend must be a BackendPlugin with kernels`);
  }
  const kernel = backend.kernels[name];
  if (typeof kernel !== 'function') {
    const available = KERNEL_NAMES.filter((k) => typeof backend.kernels[k] === 'function');
    throw new KernelNotImplementedError(name, backend.name, available);
  }
  return kernel.bind(backend.kernels) as NonNullable<Kernels[N]>;
}
