import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  argmax,
  convertToGguf,
  type GgufWriteType,
  generate,
  ggufAdapter,
  type LlamaModel,
  loadGguf,
  parseGgufHeader,
  perplexity,
  sniffGguf,
  splitStories,
} from '../src/index.js';
import { denseCache, type Golden, golden, loadStories, storiesText } from './helpers.js';

/** F32 conversion stores the same float32 values: logits agree to float32 rounding. */
const F32_LOGIT_TOLERANCE = 1e-5;
/** F16 weights (11-bit mantissa, relative error <= 2^-11 per weight) on this model: measured max |dlogit| 0.011; bar 0.05. */
const F16_LOGIT_TOLERANCE = 0.05;
/** Q8_0 (8-bit codes per 32 weights; ffn_down kept F16) on this tiny model: measured max |dlogit| 0.21; bar 0.5. */
const Q8_0_LOGIT_TOLERANCE = 0.5;
/** Mean-NLL change allowed from weight rounding over the subset below (nats/token). */
const NLL_TOLERANCE: Record<GgufWriteType, number> = { F32: 1e-5, F16: 2e-3, Q8_0: 2e-2 };
/** Stories used for the converted files' NLL (the 200-story run is in perplexity-200.test.ts). */
const NLL_STORIES = 10;

describe('llama2.c -> GGUF conversion', () => {
  let source: LlamaModel;
  let g: Golden;
  let dir: string;
  let referenceLogits: Float32Array;
  let referenceNll: number;
  beforeAll(async () => {
    source = await loadStories();
    g = golden();
    dir = mkdtempSync(join(tmpdir(), 'skvq-gguf-'));
    referenceLogits = await source.forward(g.encode.ids, denseCache(source), { logits: 'all' });
    referenceNll = (
      await perplexity(source, storiesText(), {
        cache: () => denseCache(source),
        protocol: 'prefill',
        maxStories: NLL_STORIES,
      })
    ).meanNll;
    // a real forward pass and a perplexity run: seconds alone, more while other test files
    // share the two cores (the default 10 s hook timeout was hit under load)
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a GGUF v3 header with the llama metadata llama.cpp needs', () => {
    const { bytes, tensorTypes } = convertToGguf(source, source.tokenizer!, { type: 'Q8_0' });
    expect(sniffGguf(bytes)).toBe(true);
    const header = parseGgufHeader(bytes);
    expect(header.version).toBe(3);
    expect(header.metadata.get('general.architecture')?.value).toBe('llama');
    expect(header.metadata.get('llama.attention.head_count_kv')?.value).toBe(4);
    const tokens = header.metadata.get('tokenizer.ggml.tokens')?.value as string[];
    expect(tokens[403]).toBe('\u2581Once');
    expect(tokens[1]).toBe('<s>');
    expect(tokens[3]).toBe('<0x00>');
    expect(
      (header.metadata.get('tokenizer.ggml.token_type')!.value as number[]).slice(0, 4),
    ).toEqual([2, 3, 3, 6]);
    // ffn_down rows have 172 values: not whole Q8_0 blocks, so they are written F16
    expect(tensorTypes['blk.0.ffn_down.weight']).toBe('F16');
    expect(tensorTypes['blk.0.attn_q.weight']).toBe('Q8_0');
    expect(tensorTypes['blk.0.attn_norm.weight']).toBe('F32');
  });

  for (const [type, tolerance] of [
    ['F32', F32_LOGIT_TOLERANCE],
    ['F16', F16_LOGIT_TOLERANCE],
    ['Q8_0', Q8_0_LOGIT_TOLERANCE],
  ] as const) {
    it(`${type}: loads back from bytes and from a path with the same tokenizer, logits, greedy text`, async () => {
      const { bytes } = convertToGguf(source, source.tokenizer!, { type });
      const path = join(dir, `stories260K-${type}.gguf`);
      writeFileSync(path, bytes);
      const fromBytes = await ggufAdapter.load(bytes);
      const fromPath = await loadGguf({ path });
      expect(fromPath.identity.fingerprint).toBe(fromBytes.identity.fingerprint);
      expect(fromBytes.geometry).toEqual(source.geometry);
      expect(Array.from(fromBytes.tokenizer!.encode(g.encode.text))).toEqual(g.encode.ids);
      const logits = await fromPath.forward(g.encode.ids, denseCache(fromPath), { logits: 'all' });
      let maxDiff = 0;
      for (let i = 0; i < logits.length; i++)
        maxDiff = Math.max(
          maxDiff,
          Math.abs((logits[i] as number) - (referenceLogits[i] as number)),
        );
      console.info(`${type}: max |logit - fp32 logit| = ${maxDiff.toExponential(2)}`);
      expect(maxDiff).toBeLessThan(tolerance);
      const vocab = source.config.vocabSize;
      expect(g.encode.ids.map((_, t) => argmax(logits, t * vocab, vocab))).toEqual(
        g.encode.argmax_next_per_position,
      );
      if (type !== 'Q8_0') {
        const result = await generate(fromBytes, {
          ids: [1],
          maxTokens: g.greedy_from_bos.steps,
          cache: denseCache(fromBytes),
        });
        expect(Array.from(result.ids)).toEqual(g.greedy_from_bos.ids);
      }
      const nll = (
        await perplexity(fromBytes, storiesText(), {
          cache: () => denseCache(fromBytes),
          protocol: 'prefill',
          maxStories: NLL_STORIES,
        })
      ).meanNll;
      console.info(
        `${type}: mean NLL over ${NLL_STORIES} stories ${nll.toFixed(6)} (llama2.c fp32: ${referenceNll.toFixed(6)})`,
      );
      expect(Math.abs(nll - referenceNll)).toBeLessThan(NLL_TOLERANCE[type]);
    });
  }

  it('streams a GGUF from a path whose header is larger than the first read', async () => {
    const { bytes } = convertToGguf(source, source.tokenizer!, { type: 'F16' });
    const path = join(dir, 'probe.gguf');
    writeFileSync(path, bytes);
    const whole = await loadGguf(bytes);
    const streamed = await loadGguf({ path }, { headerProbeBytes: 64 });
    expect(streamed.weights.layers[1]!.w3).toEqual(whole.weights.layers[1]!.w3);
    expect(streamed.identity).toEqual(whole.identity);
    const cut = join(dir, 'cut.gguf');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    await expect(loadGguf({ path: cut }, { headerProbeBytes: 64 })).rejects.toMatchObject({
      code: 'FILE_TRUNCATED',
    });
    await expect(loadGguf({ path: join(dir, 'missing.gguf') })).rejects.toMatchObject({
      code: 'IO_ERROR',
    });
  });

  it('F32 weights equal the llama2.c weights exactly', async () => {
    const model = await loadGguf(convertToGguf(source, source.tokenizer!, { type: 'F32' }).bytes);
    expect(model.weights.layers[3]!.wk).toEqual(source.weights.layers[3]!.wk);
    expect(model.weights.classifier).toEqual(source.weights.tokenEmbedding);
  });

  it('keeps the stories split stable for the subset used here', () => {
    expect(splitStories(storiesText()).length).toBeGreaterThan(NLL_STORIES);
  });
});
