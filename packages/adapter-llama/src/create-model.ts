import type { KvGeometry } from '@skvq/core';
import { fail } from './errors.js';
import { createForward } from './forward.js';
import type { LlamaFormat, LlamaModel } from './model.js';
import type { Tokenizer } from './tokenizer.js';
import type { LlamaConfig, LlamaWeights } from './weights.js';

export function geometryOf(config: LlamaConfig): KvGeometry {
  return {
    layers: config.layers,
    queryHeads: config.heads,
    kvHeads: config.kvHeads,
    headDim: config.headDim,
    rope: { style: 'pairwise', theta: config.ropeTheta },
  };
}

/** Throws TOKENIZER_MISMATCH when a tokenizer's vocabulary does not fit the model's. */
export function checkTokenizer(config: LlamaConfig, tokenizer: Tokenizer, what: string): void {
  if (tokenizer.vocabSize !== config.vocabSize) {
    fail(
      'TOKENIZER_MISMATCH',
      `${what} has ${tokenizer.vocabSize} tokens but the model's vocabulary has ${config.vocabSize}`,
      { tokenizer: tokenizer.vocabSize, model: config.vocabSize },
    );
  }
}

export function createLlamaModel(parts: {
  format: LlamaFormat;
  name: string;
  fingerprint: string;
  config: LlamaConfig;
  weights: LlamaWeights;
  tokenizer?: Tokenizer;
}): LlamaModel {
  if (parts.tokenizer) checkTokenizer(parts.config, parts.tokenizer, 'the tokenizer');
  const forward = createForward(parts.config, parts.weights);
  return {
    format: parts.format,
    config: parts.config,
    weights: parts.weights,
    geometry: geometryOf(parts.config),
    identity: { name: parts.name, fingerprint: parts.fingerprint },
    tokenizer: parts.tokenizer,
    forward,
  };
}
