import { createRegistry } from '@skvq/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generate,
  generateStream,
  ggufAdapter,
  type LlamaModel,
  llama2cAdapter,
} from '../src/index.js';
import { denseCache, golden, loadStories, modelBytes } from './helpers.js';

describe('generation API', () => {
  let model: LlamaModel;
  beforeAll(async () => {
    model = await loadStories();
  });

  it('streams the same tokens through the async iterator as generate, with progress', async () => {
    const progress: string[] = [];
    const streamed: number[] = [];
    let text = '';
    for await (const token of generateStream(model, {
      prompt: 'Once upon a time',
      maxTokens: 12,
      cache: denseCache(model),
    })) {
      streamed.push(token.id);
      text += token.text;
    }
    const result = await generate(model, {
      prompt: 'Once upon a time',
      maxTokens: 12,
      cache: denseCache(model),
      prefillChunk: 2,
      onProgress: (p) => progress.push(`${p.stage}:${p.done}/${p.total}`),
    });
    expect(Array.from(result.generated)).toEqual(streamed);
    expect(result.text).toBe(text);
    expect(result.promptTokens).toBe(model.tokenizer!.encode('Once upon a time').length);
    // chunked prefill (2 tokens a call) gives the same continuation as one chunk
    expect(progress[0]).toBe(`prefill:2/${result.promptTokens}`);
    expect(progress.at(-1)).toBe('decode:12/12');
    expect(model.tokenizer!.decode(result.ids)).toBe(`Once upon a time${text}`);
    // the greedy golden continuation from BOS starts with this prompt's tokens
    expect(golden().greedy_from_bos.text.startsWith(`Once upon a time${text}`.slice(0, 20))).toBe(
      true,
    );
  });

  it('samples reproducibly with a seed and differently with another', async () => {
    const run = (seed: number) =>
      generate(model, {
        ids: [1],
        maxTokens: 40,
        temperature: 1,
        topP: 0.95,
        seed,
        cache: denseCache(model),
      });
    const [a, b, c] = await Promise.all([run(1), run(1), run(2)]);
    expect(Array.from(a.generated)).toEqual(Array.from(b.generated));
    expect(Array.from(a.generated)).not.toEqual(Array.from(c.generated));
  });

  it('stops right after EOS by default, and runs on with stopAtEos: false', async () => {
    // stories260K never emits its EOS id (2) from BOS, so a test waiting for it would pass
    // whether or not EOS handling works. Instead the EOS id is set to a token that greedy
    // decoding is known to produce: generation must stop exactly there.
    const free = await generate(model, {
      ids: [1],
      maxTokens: 30,
      cache: denseCache(model),
      stopAtEos: false,
    });
    const tokens = Array.from(free.generated);
    const at = 11; // the first occurrence of tokens[at] is at `at` itself (checked below)
    const eosId = tokens[at]!;
    expect(tokens.indexOf(eosId)).toBe(at);
    const tokenizer = Object.create(model.tokenizer!, { eosId: { value: eosId } });
    const withEos: LlamaModel = Object.create(model, { tokenizer: { value: tokenizer } });
    const stopped = await generate(withEos, { ids: [1], maxTokens: 30, cache: denseCache(model) });
    expect(Array.from(stopped.generated)).toEqual(tokens.slice(0, at + 1));
    const runOn = await generate(withEos, {
      ids: [1],
      maxTokens: 30,
      cache: denseCache(model),
      stopAtEos: false,
    });
    expect(Array.from(runOn.generated)).toEqual(tokens);
  });
});

describe('adapter plugins', () => {
  it('register, sniff their own files only, and load', async () => {
    const registry = createRegistry().use(llama2cAdapter).use(ggufAdapter);
    expect(registry).toBeDefined();
    const bytes = modelBytes();
    expect(llama2cAdapter.sniff(bytes.subarray(0, 64))).toBe(true);
    expect(ggufAdapter.sniff(bytes.subarray(0, 64))).toBe(false);
    const model = await llama2cAdapter.load(bytes);
    expect(model.tokenizer).toBeUndefined();
    expect(model.config.vocabSize).toBe(512);
  });
});
