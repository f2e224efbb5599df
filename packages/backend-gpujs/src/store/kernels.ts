import type { StoreKernels } from '@skvq/core';
import { attendStore } from './attend.js';
import { quantizeBlockStore, quantizeTokensStore } from './quantize.js';
import type { StoreOps } from './storage.js';

/** The store kernels of the gpu.js storage: quantize into pages, attend over them. */
export function gpujsStoreKernels(ops: () => StoreOps, owner: object): StoreKernels {
  return {
    attend: (inputs, attrs) => attendStore(ops(), owner, inputs, attrs),
    quantizeTokens: (inputs) => quantizeTokensStore(ops(), owner, inputs),
    quantizeBlock: (inputs) => quantizeBlockStore(ops(), owner, inputs),
  };
}
