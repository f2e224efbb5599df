import { AutoModelForCausalLM, AutoTokenizer, Tensor } from '@huggingface/transformers';
import { cpuBackend } from '@skvq/backend-cpu';
import { createDenseCache } from '@skvq/cache';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExportedStories, exportStories, golden, storiesText } from './fixture.js';

let fx: ExportedStories;
beforeAll(async () => {
  fx = await exportStories();
});
afterAll(() => fx?.cleanup());

describe('stories260K exported for transformers.js', () => {
  it('logits equal adapter-llama within 1e-4 at every golden prompt position', async () => {
    const ids = golden().encode.ids;
    const model = await AutoModelForCausalLM.from_pretrained(fx.modelId, { dtype: 'fp32' });
    const n = ids.length;
    const out = await model({
      input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, n]),
      attention_mask: new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    });
    const ours = out.logits.data as Float32Array;
    const cache = createDenseCache({
      geometry: fx.llama.geometry,
      precision: 'fp32',
      backend: cpuBackend,
    });
    const ref = await fx.llama.forward(ids, cache, { logits: 'all' });
    expect(ours.length).toBe(ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
    console.log('max |logit diff|', worst);
    expect(worst).toBeLessThan(1e-4);
  });
});

describe('greedy continuation and tokenizer', () => {
  it('greedy generate() from BOS equals the golden continuation and its text', async () => {
    const g = golden().greedy_from_bos;
    const model = await AutoModelForCausalLM.from_pretrained(fx.modelId, { dtype: 'fp32' });
    const seq = (await model.generate({
      input_ids: new Tensor('int64', BigInt64Array.of(1n), [1, 1]),
      attention_mask: new Tensor('int64', BigInt64Array.of(1n), [1, 1]),
      max_new_tokens: g.steps,
      do_sample: false,
    })) as Tensor;
    const ids = Array.from(seq.data as BigInt64Array, Number);
    expect(ids).toEqual(g.ids);
    const tokenizer = await AutoTokenizer.from_pretrained(fx.modelId);
    expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(g.text);
  });

  it('the converted tokenizer gives the golden ids, and adapter-llama ids on held-out stories', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(fx.modelId);
    const e = golden().encode;
    expect(Array.from(tokenizer(e.text).input_ids.data as BigInt64Array, Number)).toEqual(e.ids);
    const stories = storiesText()
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .slice(0, 200);
    let mismatches = 0;
    for (const line of stories) {
      const ours = Array.from(tokenizer(line).input_ids.data as BigInt64Array, Number);
      const ref = Array.from(fx.llama.tokenizer!.encode(line, { bos: true }));
      if (JSON.stringify(ours) !== JSON.stringify(ref)) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});
