import { type AddonKind, loadAddon } from './native.js';

export interface CudaAvailability {
  available: boolean;
  /** Why CUDA is unusable here (missing build, no driver, no device). */
  reason?: string;
  driverVersion?: number;
  devices?: number;
}

/**
 * Whether the CUDA backend can run here, without creating a context: the addon and kernel
 * images must be built and libcuda.so.1 must load and report a device. Never throws.
 */
export function cudaAvailability(addon: AddonKind = 'cuda'): CudaAvailability {
  const load = loadAddon(addon);
  if ('reason' in load) return { available: false, reason: load.reason };
  try {
    const probe = load.addon.probe();
    const facts = {
      ...(probe.driverVersion === undefined ? {} : { driverVersion: probe.driverVersion }),
      ...(probe.devices === undefined ? {} : { devices: probe.devices }),
    };
    return probe.available
      ? { available: true, ...facts }
      : { available: false, reason: probe.reason ?? 'unknown reason', ...facts };
  } catch (error) {
    return {
      available: false,
      reason: `CUDA probe failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
