import { fail } from './errors.js';
import type { LlamaConfig } from './weights.js';

/**
 * Upper bound on every count of a model config (dims, heads, layers, vocabulary, context).
 * Positions are int32 in every cache (SKVQ positions are Int32Array), so a context or a
 * vocabulary past 2^31 - 1 cannot be used; a count that large is a corrupted header.
 */
export const MAX_CONFIG_COUNT = 0x7fffffff;

/** A short printable form of an untrusted value (never serialises a large object). */
export function shortValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  if (typeof value === 'string') {
    return value.length > 40 ? `"${value.slice(0, 40)}..." (${value.length} chars)` : `"${value}"`;
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}

function positiveCount(value: unknown, name: string, what: string): void {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value <= 0 ||
    value > MAX_CONFIG_COUNT
  ) {
    fail(
      'FILE_CORRUPTED',
      `${what}: ${name} is ${shortValue(value)}; expected an integer in 1..${MAX_CONFIG_COUNT}`,
      { field: name, value: typeof value === 'number' ? value : shortValue(value) },
    );
  }
}

function positiveFinite(value: unknown, name: string, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(
      'FILE_CORRUPTED',
      `${what}: ${name} is ${shortValue(value)}; expected a positive finite number`,
      { field: name, value: typeof value === 'number' ? value : shortValue(value) },
    );
  }
}

/**
 * Throws FILE_CORRUPTED unless the config describes a model this runtime can build:
 * positive integer counts, dim divisible by heads, heads by kv heads, an even head size,
 * a positive finite norm epsilon and RoPE base.
 */
export function checkLlamaConfig(config: LlamaConfig, what: string): LlamaConfig {
  positiveCount(config.dim, 'dim (embedding length)', what);
  positiveCount(config.hiddenDim, 'hidden dim (feed-forward length)', what);
  positiveCount(config.layers, 'layers (block count)', what);
  positiveCount(config.heads, 'heads', what);
  positiveCount(config.kvHeads, 'kv heads', what);
  positiveCount(config.vocabSize, 'vocabulary size', what);
  positiveCount(config.contextLength, 'context length', what);
  positiveFinite(config.normEps, 'norm epsilon', what);
  positiveFinite(config.ropeTheta, 'RoPE base', what);
  if (
    config.dim % config.heads !== 0 ||
    config.heads % config.kvHeads !== 0 ||
    config.headDim !== config.dim / config.heads ||
    config.headDim % 2 !== 0
  ) {
    fail(
      'FILE_CORRUPTED',
      `${what}: dim ${config.dim}, heads ${config.heads}, kv heads ${config.kvHeads} are impossible (need dim divisible by heads, heads by kv heads, an even head size)`,
      { dim: config.dim, heads: config.heads, kvHeads: config.kvHeads },
    );
  }
  return config;
}

/** Throws FILE_CORRUPTED unless `id` is a token id inside a vocabulary of `vocabSize`. */
export function checkTokenId(id: unknown, vocabSize: number, name: string, what: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
    fail(
      'FILE_CORRUPTED',
      `${what}: ${name} is ${shortValue(id)}; expected a token id in 0..${vocabSize - 1}`,
      { field: name, value: typeof id === 'number' ? id : shortValue(id), vocabSize },
    );
  }
  return id;
}
