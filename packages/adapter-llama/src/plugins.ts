import type { AdapterPlugin, ModelSource } from '@skvq/core';
import { sniffLlama2c } from './llama2c.js';
import { type LoadOptions, loadGguf, loadLlama2c, sniffGguf } from './load.js';
import type { LlamaModel } from './model.js';

/** llama2.c checkpoints (v0/v1/v2); `options.tokenizer` attaches a tokenizer.bin. */
export function createLlama2cAdapter(options: LoadOptions = {}): AdapterPlugin<LlamaModel> {
  return {
    kind: 'adapter',
    name: 'llama2c',
    description:
      'llama2.c checkpoints (legacy v0, v1 fp32, v2 Q8_0) with a Llama forward pass over the SKVQ cache',
    sniff: (header) => !sniffGguf(header) && sniffLlama2c(header),
    load: (source: ModelSource) => loadLlama2c(source, options),
  };
}

/** GGUF v2/v3 `llama` models (F32, F16, Q8_0, Q4_0 tensors). */
export function createGgufAdapter(options: LoadOptions = {}): AdapterPlugin<LlamaModel> {
  return {
    kind: 'adapter',
    name: 'gguf-llama',
    description:
      'GGUF llama models (F32, F16, Q8_0, Q4_0) with a Llama forward pass over the SKVQ cache',
    sniff: sniffGguf,
    load: (source: ModelSource) => loadGguf(source, options),
  };
}

export const llama2cAdapter: AdapterPlugin<LlamaModel> = createLlama2cAdapter();
export const ggufAdapter: AdapterPlugin<LlamaModel> = createGgufAdapter();
