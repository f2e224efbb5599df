import { applyRope, ropeInverseFrequencies } from '@skvq/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { argmax, generate, type LlamaModel, splitStories } from '../src/index.js';
import { denseCache, type Golden, golden, loadStories, storiesText, topK } from './helpers.js';

/** PROVENANCE.md: a float32 port agrees with the float64 golden to about 1e-5; 1e-4 is the bar. */
const LOGIT_TOLERANCE = 1e-4;

describe('stories260K (llama2.c v0) against the golden file', () => {
  let model: LlamaModel;
  let g: Golden;
  beforeAll(async () => {
    model = await loadStories();
    g = golden();
  });

  it('has the geometry and identity of the file', () => {
    expect(model.geometry).toEqual({
      layers: 5,
      queryHeads: 8,
      kvHeads: 4,
      headDim: 8,
      rope: { style: 'pairwise', theta: 10000 },
    });
    expect(model.identity.fingerprint).toBe(
      'sha256:b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696',
    );
  });

  it('encodes the golden sentence to the golden ids and decodes it back', () => {
    const ids = model.tokenizer!.encode(g.encode.text);
    expect(Array.from(ids)).toEqual(g.encode.ids);
    expect(model.tokenizer!.decode(ids)).toBe(g.encode.text);
  });

  it('matches argmax per position and the last top-5 logits (prefill in one chunk)', async () => {
    const logits = await model.forward(g.encode.ids, denseCache(model), { logits: 'all' });
    const vocab = model.config.vocabSize;
    const argmaxes = g.encode.ids.map((_, t) => argmax(logits, t * vocab, vocab));
    expect(argmaxes).toEqual(g.encode.argmax_next_per_position);
    const last = logits.subarray((g.encode.ids.length - 1) * vocab);
    expect(topK(last, 5)).toEqual(g.encode.logits_last_top5.map(([id]) => id));
    for (const [id, value] of g.encode.logits_last_top5)
      expect(Math.abs((last[id] as number) - value)).toBeLessThan(LOGIT_TOLERANCE);
  });

  it('gives the same logits decoding one token at a time as prefilling', async () => {
    const cache = denseCache(model);
    const vocab = model.config.vocabSize;
    const all = await model.forward(g.encode.ids, denseCache(model), { logits: 'all' });
    for (let t = 0; t < g.encode.ids.length; t++) {
      const step = await model.forward([g.encode.ids[t] as number], cache);
      for (let i = 0; i < vocab; i++)
        expect(Math.abs((step[i] as number) - (all[t * vocab + i] as number))).toBeLessThan(1e-4);
    }
  });

  it('streams pre-RoPE K that, rotated, equals the golden post-RoPE K samples, and V', async () => {
    const seen = new Map<string, { k: Float32Array; v: Float32Array }>();
    await model.forward(g.encode.ids, denseCache(model), {
      logits: 'none',
      onActivations: (batch) => {
        expect(batch.count).toBe(g.encode.ids.length);
        expect(batch.q.length).toBe(batch.count * 64);
        for (const pos of [0, 1, 15]) {
          const k = batch.k.slice(pos * 32, pos * 32 + 32);
          applyRope(
            k,
            0,
            4,
            8,
            model.geometry.rope,
            batch.positions[pos] as number,
            ropeInverseFrequencies(8, 10000),
          );
          seen.set(`layer${batch.layer}_pos${pos}`, {
            k,
            v: batch.v.slice(pos * 32, pos * 32 + 32),
          });
        }
      },
    });
    for (const [key, sample] of Object.entries(g.kv_samples)) {
      const got = seen.get(key)!;
      const k = sample.k.flat();
      const v = sample.v.flat();
      for (let i = 0; i < k.length; i++)
        expect(Math.abs((got.k[i] as number) - (k[i] as number))).toBeLessThan(1e-4);
      for (let i = 0; i < v.length; i++)
        expect(Math.abs((got.v[i] as number) - (v[i] as number))).toBeLessThan(1e-4);
    }
  });

  it('continues greedily from BOS exactly as the golden 64 tokens', async () => {
    const tokens: number[] = [];
    const result = await generate(model, {
      ids: [1],
      maxTokens: g.greedy_from_bos.steps,
      cache: denseCache(model),
      onToken: (t) => tokens.push(t.id),
    });
    expect(Array.from(result.ids)).toEqual(g.greedy_from_bos.ids);
    expect(tokens).toEqual(g.greedy_from_bos.ids.slice(1));
    expect(result.text).toBe(g.greedy_from_bos.text);
  });

  it('splits the evaluation text into stories', () => {
    const stories = splitStories(storiesText());
    expect(stories.length).toBeGreaterThan(g.ppl_tinystories_val.stories);
    // a story's paragraphs are joined with one newline, never a blank line
    for (const story of stories.slice(0, 200)) expect(story).not.toMatch(/\n\s*\n/);
    const openers = stories
      .slice(1, 200)
      .filter((s) => /^(Once|One day|There once|There was once)/.test(s));
    expect(openers.length).toBe(199);
  });
});
