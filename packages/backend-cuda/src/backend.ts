import { type BackendPlugin, type BackendStorage, SkvqError, type TransferStats } from '@skvq/core';
import { cudaAvailability } from './availability.js';
import { createCudaStorage } from './cuda-storage.js';
import { CudaDevice, type TransferCounter } from './device.js';
import { createHostKernels } from './host-kernels.js';
import type { AddonKind } from './native.js';

/** Backend name in a registry. */
export const CUDA_BACKEND_NAME = 'cuda';
/** Tried before every CPU and browser backend when a CUDA driver and device are present. */
export const CUDA_BACKEND_PRIORITY = 100;

export interface CudaBackend extends BackendPlugin {
  /** The open device (after init()): the device-resident API for benchmarks and caches. */
  device(): CudaDevice;
  /** Backend-owned KV storage in device memory: caches keep their pages on the GPU. */
  readonly storage: BackendStorage;
  /** Cumulative host<->device bytes of every device this backend opened. */
  transferStats(): TransferStats;
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
  // One counter for the backend's lifetime: it survives dispose() and a later init().
  const transfers: TransferCounter = { bytesToDevice: 0, bytesFromDevice: 0 };
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
      if (!current) current = CudaDevice.open(ordinal, { addon, transfers });
    },
    dispose() {
      current?.dispose();
      current = null;
    },
    device,
    kernels: createHostKernels(device),
    storage: createCudaStorage(device, transfers),
    transferStats: () => ({ ...transfers }),
  };
}

/** The CUDA backend on device 0. */
export const cudaBackend: CudaBackend = createCudaBackend(0);
