import { ggufAdapter, llama2cAdapter } from '@skvq/adapter-llama';
import { cpuBackend } from '@skvq/backend-cpu';
import { createGpujsBackend } from '@skvq/backend-gpujs';
import { createWebgpuBackend } from '@skvq/backend-webgpu';
import { kiviQuantizer, rtnQuantizer } from '@skvq/baselines';
import { reorderCalibrator } from '@skvq/calibrator-reorder';
import { createRegistry, type Registry } from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';

/**
 * Priorities of the optional backends in the CLI: below the CPU backend (0), so every
 * command runs on `cpu` unless `--backend` names another one. On a machine without a GPU
 * both of these run in software (Mesa, gpu.js's CPU modes) and are far slower.
 */
export const CLI_WEBGPU_PRIORITY = -20;
export const CLI_GPUJS_PRIORITY = -30;

/**
 * The one registry the CLI assembles (DESIGN.md: "demo apps assemble them through a small
 * plugin registry"): every command looks plugins up here by kind and name.
 */
export function createCliRegistry(): Registry {
  return createRegistry()
    .use(llama2cAdapter)
    .use(ggufAdapter)
    .use(cpuBackend)
    .use(createWebgpuBackend({ priority: CLI_WEBGPU_PRIORITY }))
    .use(createGpujsBackend({ priority: CLI_GPUJS_PRIORITY }))
    .use(groupClipQuantizer)
    .use(rtnQuantizer)
    .use(kiviQuantizer)
    .use(slidingWindowPolicy)
    .use(reorderCalibrator);
}
