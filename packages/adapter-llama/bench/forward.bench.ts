import { readFileSync } from 'node:fs';
import { cpuBackend } from '@skvq/backend-cpu';
import { createDenseCache } from '@skvq/cache';
import { requireAsset, STORIES_MODEL, STORIES_TEXT, STORIES_TOKENIZER } from '@skvq/test-assets';
import { bench, describe } from 'vitest';
import { generate, loadLlama2c, splitStories } from '../src/index.js';

// stories260K with the fp32 dense cache: a 512-token prefill in one chunk, and 128 decode steps.
const model = await loadLlama2c(new Uint8Array(readFileSync(requireAsset(STORIES_MODEL))), {
  tokenizer: new Uint8Array(readFileSync(requireAsset(STORIES_TOKENIZER))),
});
const story = splitStories(readFileSync(requireAsset(STORIES_TEXT), 'utf8')).find(
  (s) => model.tokenizer!.encode(s).length >= 512,
)!;
const ids = model.tokenizer!.encode(story).slice(0, 512);
const dense = () =>
  createDenseCache({ geometry: model.geometry, precision: 'fp32', backend: cpuBackend });

describe('stories260K forward, fp32 dense cache', () => {
  bench('prefill 512 tokens (one chunk)', async () => {
    await model.forward(ids, dense(), { logits: 'all' });
  });
  bench('decode 128 tokens from BOS (greedy)', async () => {
    await generate(model, { ids: [1], maxTokens: 128, cache: dense(), stopAtEos: false });
  });
});
