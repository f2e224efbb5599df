import { readFileSync } from 'node:fs';
import { cpuBackend } from '@skvq/backend-cpu';
import { createDenseCache } from '@skvq/cache';
import type { AttentionCache } from '@skvq/core';
import {
  requireAsset,
  STORIES_GOLDEN,
  STORIES_MODEL,
  STORIES_TEXT,
  STORIES_TOKENIZER,
} from '@skvq/test-assets';
import { type LlamaModel, loadLlama2c } from '../src/index.js';

export interface Golden {
  encode: {
    text: string;
    ids: number[];
    argmax_next_per_position: number[];
    logits_last_top5: [number, number][];
  };
  kv_samples: Record<string, { k: number[][]; v: number[][] }>;
  greedy_from_bos: { steps: number; ids: number[]; text: string };
  ppl_tinystories_val: { stories: number; tokens: number; mean_nll: number; ppl: number };
}

export const golden = (): Golden =>
  JSON.parse(readFileSync(requireAsset(STORIES_GOLDEN), 'utf8')) as Golden;
export const modelBytes = (): Uint8Array =>
  new Uint8Array(readFileSync(requireAsset(STORIES_MODEL)));
export const tokenizerBytes = (): Uint8Array =>
  new Uint8Array(readFileSync(requireAsset(STORIES_TOKENIZER)));
export const storiesText = (): string => readFileSync(requireAsset(STORIES_TEXT), 'utf8');

export function loadStories(): Promise<LlamaModel> {
  return loadLlama2c(modelBytes(), { tokenizer: tokenizerBytes(), name: 'stories260K' });
}

export function denseCache(model: LlamaModel): AttentionCache {
  return createDenseCache({ geometry: model.geometry, precision: 'fp32', backend: cpuBackend });
}

/** Indices of the k largest values, largest first. */
export function topK(values: Float32Array, k: number): number[] {
  return Array.from(values.keys())
    .sort((a, b) => (values[b] as number) - (values[a] as number))
    .slice(0, k);
}
