import {
  decodeAndPrefill,
  type Kernels,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
} from '@skvq/core';
import { quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import { dequantizeKernelFast, dequantizeKernelReference } from './dequantize.js';
import { attendJobFast } from './fast-attention.js';
import { quantizeTokensFast } from './fast-quantize.js';
import { attendReferenceJob } from './reference-attention.js';

function quantizeTokensKernelReference(inputs: QuantizeTokensInputs): void {
  quantizeTokensReference(
    inputs.layout,
    inputs.x,
    inputs.count,
    inputs.codes,
    inputs.codesOffset,
    inputs.meta,
    inputs.metaOffset,
  );
}

/**
 * Channel-block quantize (KIVI keys) runs once per `blockTokens` tokens, off the decode
 * path, so both backends use the reference directly: it is bit exact by definition.
 */
function quantizeBlockKernel(inputs: QuantizeBlockInputs): void {
  quantizeBlockReference(
    inputs.layout,
    inputs.x,
    0,
    inputs.codes,
    inputs.codesOffset,
    inputs.meta,
    inputs.metaOffset,
  );
}

/** The oracle: scalar, obvious kernels every other backend is checked against. */
export const referenceKernels: Kernels = {
  quantizeTokens: quantizeTokensKernelReference,
  quantizeBlock: quantizeBlockKernel,
  dequantize: dequantizeKernelReference,
  attend: attendReferenceJob,
  ...decodeAndPrefill(attendReferenceJob),
};

/**
 * Fast kernels for Node 20 and browsers, no native code; `fused` lets decode attention use
 * the WebAssembly SIMD module when the engine has it.
 */
export function fastKernels(options: { fused: boolean }): Kernels {
  return {
    quantizeTokens: quantizeTokensFast,
    quantizeBlock: quantizeBlockKernel,
    dequantize: dequantizeKernelFast,
    attend: (job, attrs) => attendJobFast(job, attrs, options),
    ...decodeAndPrefill((job, attrs) => attendJobFast(job, attrs, options)),
  };
}
