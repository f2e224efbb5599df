import { describe, expect, it } from 'vitest';
import { perplexity } from '../src/index.js';
import { denseCache, golden, loadStories, storiesText } from './helpers.js';

/** The bar for the mean NLL over the first 200 stories (golden 1.228682). */
const NLL_TOLERANCE = 0.005;

describe('perplexity over the first 200 evaluation stories', () => {
  it('has the golden mean NLL and token count with the fp32 dense cache', async () => {
    const model = await loadStories();
    const g = golden().ppl_tinystories_val;
    const t0 = performance.now();
    let reports = 0;
    const result = await perplexity(model, storiesText(), {
      cache: () => denseCache(model),
      // a dense cache scores the same under every protocol; prefill is one forward per story
      protocol: 'prefill',
      maxStories: g.stories,
      onProgress: () => reports++,
    });
    const seconds = (performance.now() - t0) / 1000;
    console.info(
      `perplexity: ${result.stories} stories, ${result.tokens} tokens, mean NLL ${result.meanNll.toFixed(6)}, ppl ${result.ppl.toFixed(4)}, ${seconds.toFixed(1)} s (${(result.tokens / seconds).toFixed(0)} tokens/s)`,
    );
    expect(reports).toBe(g.stories);
    expect(result.stories).toBe(g.stories);
    expect(result.tokens).toBe(g.tokens);
    expect(Math.abs(result.meanNll - g.mean_nll)).toBeLessThan(NLL_TOLERANCE);
    expect(Math.abs(result.ppl - g.ppl)).toBeLessThan(0.02);
  }, 600_000);
});
