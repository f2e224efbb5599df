import { ggufAdapter, llama2cAdapter } from '@skvq/adapter-llama';
import { cpuBackend } from '@skvq/backend-cpu';
import { kiviQuantizer, rtnQuantizer } from '@skvq/baselines';
import { reorderCalibrator } from '@skvq/calibrator-reorder';
import { createRegistry, type Registry } from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';

/**
 * The one registry the CLI assembles (DESIGN.md: "demo apps assemble them through a small
 * plugin registry"): every command looks plugins up here by kind and name.
 */
export function createCliRegistry(): Registry {
  return createRegistry()
    .use(llama2cAdapter)
    .use(ggufAdapter)
    .use(cpuBackend)
    .use(groupClipQuantizer)
    .use(rtnQuantizer)
    .use(kiviQuantizer)
    .use(slidingWindowPolicy)
    .use(reorderCalibrator);
}
