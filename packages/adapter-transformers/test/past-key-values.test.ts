import {
  AutoModelForCausalLM,
  AutoTokenizer,
  DynamicCache,
  type PreTrainedModel,
  type PreTrainedTokenizer,
  Tensor,
} from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSkvqPastKeyValues, SkvqPastKeyValues, skvqCacheOptions } from '../src/index.js';
import { type ExportedStories, exportStories, golden } from './fixture.js';

let fx: ExportedStories;
let model: PreTrainedModel;
let tokenizer: PreTrainedTokenizer;
beforeAll(async () => {
  fx = await exportStories();
  model = await AutoModelForCausalLM.from_pretrained(fx.modelId, { dtype: 'fp32' });
  tokenizer = await AutoTokenizer.from_pretrained(fx.modelId);
});
afterAll(() => fx?.cleanup());

const ids = (xs: number[]) => ({
  input_ids: new Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]),
  attention_mask: new Tensor('int64', new BigInt64Array(xs.length).fill(1n), [1, xs.length]),
});
const list = (t: unknown) => Array.from((t as Tensor).data as BigInt64Array, Number);

/** Two turns of greedy generation sharing one past_key_values object. */
async function conversation(pkv: DynamicCache, steps: [number, number]): Promise<number[]> {
  const first = list(
    await model.generate({
      ...ids(golden().encode.ids),
      past_key_values: pkv,
      max_new_tokens: steps[0],
      do_sample: false,
    }),
  );
  const reply = list(tokenizer(' Then Tom said', { add_special_tokens: false }).input_ids);
  return list(
    await model.generate({
      ...ids([...first, ...reply]),
      past_key_values: pkv,
      max_new_tokens: steps[1],
      do_sample: false,
    }),
  );
}

describe('SkvqPastKeyValues with fp32 storage', () => {
  it('generates exactly what plain transformers.js (DynamicCache) generates, over two turns', async () => {
    const plain = await conversation(new DynamicCache(), [60, 60]);
    const pkv = createSkvqPastKeyValues(model.config, { storage: 'fp32' });
    const ours = await conversation(pkv.asDynamicCache(), [60, 60]);
    expect(ours).toEqual(plain);
    // the last generated token is never run, so the cache holds all but one
    expect(pkv.get_seq_length()).toBe(ours.length - 1);
    expect(pkv.bytes().keptFp).toBeGreaterThanOrEqual(pkv.denseBytes('fp32'));
  });

  it('materialises exactly the presents transformers.js returned', async () => {
    const plain = new DynamicCache();
    const pkv = createSkvqPastKeyValues(model.config, { storage: 'fp32' });
    const run = { ...ids(golden().encode.ids), max_new_tokens: 5, do_sample: false };
    await model.generate({ ...run, past_key_values: plain });
    await model.generate({ ...run, past_key_values: pkv.asDynamicCache() });
    for (const name of ['past_key_values.0.key', 'past_key_values.4.value']) {
      const a = (plain as unknown as Record<string, Tensor>)[name]!;
      const b = (pkv as unknown as Record<string, Tensor>)[name]!;
      expect(b.dims).toEqual(a.dims);
      expect(Array.from(b.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
    }
  });

  it('save/load: a restored cache continues the conversation identically', async () => {
    const pkv = createSkvqPastKeyValues(model.config, { storage: 'fp16' });
    const first = list(
      await model.generate({
        ...ids(golden().encode.ids),
        past_key_values: pkv.asDynamicCache(),
        max_new_tokens: 20,
        do_sample: false,
      }),
    );
    const bytes = pkv.save();
    const restored = SkvqPastKeyValues.load(
      bytes,
      skvqCacheOptions(model.config, { storage: 'fp16' }),
    );
    expect(restored.get_seq_length()).toBe(pkv.get_seq_length());
    const next = async (p: SkvqPastKeyValues) =>
      list(
        await model.generate({
          ...ids(first),
          past_key_values: p.asDynamicCache(),
          max_new_tokens: 20,
          do_sample: false,
        }),
      );
    expect(await next(restored)).toEqual(await next(pkv));
  });
});

describe('SkvqPastKeyValues errors', () => {
  it('rejects a cache whose geometry would rotate keys again', async () => {
    const { createDenseCache } = await import('@skvq/cache');
    const { cpuBackend } = await import('@skvq/backend-cpu');
    const cache = createDenseCache({
      geometry: fx.llama.geometry,
      precision: 'fp32',
      backend: cpuBackend,
    });
    expect(() => new SkvqPastKeyValues(cache, cpuBackend)).toThrow(
      expect.objectContaining({ code: 'INVALID_GEOMETRY' }),
    );
  });

  it('rejects presents of another shape (batch 2) without touching the cache', () => {
    const pkv = createSkvqPastKeyValues(model.config, { storage: 'fp32' });
    const bad: Record<string, Tensor> = {};
    for (let l = 0; l < 5; l++) {
      for (const kind of ['key', 'value']) {
        bad[`past_key_values.${l}.${kind}`] = new Tensor(
          'float32',
          new Float32Array(2 * 4 * 3 * 8),
          [2, 4, 3, 8],
        );
      }
    }
    expect(() => pkv.update(bad)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(pkv.get_seq_length()).toBe(0);
  });
});
