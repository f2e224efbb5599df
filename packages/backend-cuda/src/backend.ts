import { type BackendPlugin, SkvqError } from '@skvq/core';
import { cudaAvailability } from './availability.js';
import { CudaDevice } from './device.js';
import { createHostKernels } from './host-kernels.js';
import type { AddonKind } from './native.js';

/** Backend name in a registry. */
export const CUDA_BACKEND_NAME = 'cuda';
/** Tried before every CPU and browser backend when a CUDA driver and device are present. */
export const CUDA_BACKEND_PRIORITY = 100;

export interface CudaBackend extends BackendPlugin {
  /** The open device (after init()): the device-resident API for benchmarks and caches. */
  device(): CudaDevice;
}

/**
 * Creates a CUDA backend on device `ordinal`. init() opens the device and loads the
 * kernels, or throws BACKEND_INIT_FAILED with the reason (addon not built, no driver, no
 * device), so registry.resolveBackend() falls through to the next backend with it listed.
 */
export interface CudaBackendOptions {
  /** 'emulator': the same kernels on CPU threads (tests of the kernels without a GPU). */
  addon?: AddonKind;
  /** Registry name (default 'cuda'). */
  name?: string;
}

export function createCudaBackend(ordinal = 0, options: CudaBackendOptions = {}): CudaBackend {
  const addon = options.addon ?? 'cuda';
  let current: CudaDevice | null = null;
  const device = (): CudaDevice => {
    if (!current) {
      throw new SkvqError(
        'BACKEND_INIT_FAILED',
        `cuda backend: not initialised (call init(); availability: ${cudaAvailability(addon).reason ?? 'available'})`,
      );
    }
    return current;
  };
  return {
    kind: 'backend',
    name: options.name ?? CUDA_BACKEND_NAME,
    description: 'CUDA kernels behind a Node addon: fused SKVQ quantize and dequantize-attention',
    priority: CUDA_BACKEND_PRIORITY,
    label: () => {
      const where = addon === 'emulator' ? 'CPU emulator' : 'GPU';
      return current === null
        ? `${options.name ?? CUDA_BACKEND_NAME} (${where})`
        : `${options.name ?? CUDA_BACKEND_NAME} (${current.info.name}, ${where})`;
    },
    init() {
      if (!current) current = CudaDevice.open(ordinal, { addon });
    },
    dispose() {
      current?.dispose();
      current = null;
    },
    device,
    kernels: createHostKernels(device),
  };
}

/** The CUDA backend on device 0. */
export const cudaBackend: CudaBackend = createCudaBackend(0);
