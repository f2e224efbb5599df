import type { Kernels, QuantizeBlockInputs, QuantizeTokensInputs } from '@skvq/core';
import { quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import { dequantizeKernelFast, dequantizeKernelReference } from './dequantize.js';
import { attendDecodeFast, attendPrefillFast } from './fast-attention.js';
import { quantizeTokensFast } from './fast-quantize.js';
import { attendDecodeReference, attendPrefillReference } from './reference-attention.js';

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
  attendDecode: attendDecodeReference,
  attendPrefill: attendPrefillReference,
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
    attendDecode: (inputs, attrs) => attendDecodeFast(inputs, attrs, options),
    attendPrefill: attendPrefillFast,
  };
}
