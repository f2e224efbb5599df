import {
  AutoModelForCausalLM,
  AutoTokenizer,
  DynamicCache,
  type PreTrainedModel,
  type PreTrainedTokenizer,
  Tensor,
} from '@huggingface/transformers';
import { splitStories } from '@skvq/adapter-llama';
import { type CalibrationArtifact, parseCalibration, serializeCalibration } from '@skvq/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  calibrateTransformersModel,
  createSkvqPastKeyValues,
  SkvqPastKeyValues,
  skvqCacheOptions,
  transformersGeometry,
} from '../src/index.js';
import { type ExportedStories, exportStories, golden, storiesText } from './fixture.js';

let fx: ExportedStories;
let model: PreTrainedModel;
let tokenizer: PreTrainedTokenizer;
let calibration: CalibrationArtifact;

const ids = (xs: number[]) => ({
  input_ids: new Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]),
  attention_mask: new Tensor('int64', new BigInt64Array(xs.length).fill(1n), [1, xs.length]),
});
const list = (t: unknown) => Array.from((t as Tensor).data as BigInt64Array, Number);

beforeAll(async () => {
  fx = await exportStories();
  model = await AutoModelForCausalLM.from_pretrained(fx.modelId, { dtype: 'fp32' });
  tokenizer = await AutoTokenizer.from_pretrained(fx.modelId);
  // calibrate on the held-out file's last stories (generation below starts from the golden prompt)
  const stories = splitStories(storiesText()).slice(-30);
  const sequences = stories.map((s) => list(tokenizer(s).input_ids));
  calibration = await calibrateTransformersModel(model, sequences, {
    model: { name: 'stories260K (transformers.js)', fingerprint: 'sha256:test' },
    bits: { k: 2, v: 1.5 },
    groupSize: 8,
    maxTokens: 4096,
    source: 'tinystories-valid-head.txt (last 30 stories)',
  });
}, 120_000);
afterAll(() => fx?.cleanup());

describe('calibration from a transformers.js model', () => {
  it('writes a valid artifact for the post-RoPE geometry of the model', () => {
    const parsed = parseCalibration(JSON.parse(serializeCalibration(calibration)));
    expect(parsed.geometry).toEqual(transformersGeometry(model.config));
    expect(parsed.geometry.rope.style).toBe('none');
    expect(parsed.layers).toHaveLength(5);
    expect(parsed.layers[0]!.k.bits).toBe(2);
    expect(parsed.layers[0]!.v.bits).toBe(1.5);
    expect(parsed.data.tokens).toBeGreaterThan(1000);
    expect(parsed.data.tokens).toBeLessThanOrEqual(4096);
  });
});

describe('SkvqPastKeyValues with SKVQ K2 V1.5', () => {
  const window = 32;
  const sinks = 5;
  // fp16 window/sinks and 32-token pages: the storage a memory-conscious user would pick
  const storage = {
    storage: 'skvq' as const,
    window,
    sinks,
    fpPrecision: 'fp16' as const,
    pageTokens: 32,
  };

  it('runs a conversation, quantizes what left the window and holds fewer bytes than fp16', async () => {
    const prompt = golden().encode.ids;
    const pkv = createSkvqPastKeyValues(model.config, { ...storage, calibration });
    const plain = list(
      await model.generate({
        ...ids(prompt),
        past_key_values: new DynamicCache(),
        max_new_tokens: 200,
        do_sample: false,
      }),
    );
    const ours = list(
      await model.generate({
        ...ids(prompt),
        past_key_values: pkv.asDynamicCache(),
        max_new_tokens: 200,
        do_sample: false,
      }),
    );
    // until a token leaves the full-precision window nothing is quantized: identical tokens
    const exact = window - prompt.length + 1;
    expect(ours.slice(0, prompt.length + exact)).toEqual(plain.slice(0, prompt.length + exact));
    expect(ours).toHaveLength(plain.length);
    expect(ours.every((id) => Number.isInteger(id) && id >= 0 && id < 512)).toBe(true);
    const layer0 = pkv.cache.describe().layers[0]!;
    expect(layer0.tokens).toBe(ours.length - 1);
    expect(layer0.quantized.k).toBe(layer0.tokens - window - sinks);
    expect(layer0.sinks).toBe(sinks);
    const bytes = pkv.bytes();
    expect(bytes.total).toBeLessThan(pkv.denseBytes('fp16'));
    expect(bytes.codes + bytes.metadata).toBeGreaterThan(0);
    console.log(
      `K2V1.5 window ${window} sinks ${sinks}, ${bytes.tokens} tokens: ${bytes.total} B held (${bytes.bitsPerElement.toFixed(2)} bits/element) vs fp16 ${pkv.denseBytes('fp16')} B, fp32 ${pkv.denseBytes('fp32')} B; agreement with fp32 greedy ${ours.filter((t, i) => t === plain[i]).length}/${ours.length}`,
    );
  });

  it('save/load of a quantized cache restores the same bytes and continues identically', async () => {
    const options = { ...storage, calibration };
    const pkv = createSkvqPastKeyValues(model.config, options);
    const first = list(
      await model.generate({
        ...ids(golden().encode.ids),
        past_key_values: pkv.asDynamicCache(),
        max_new_tokens: 80,
        do_sample: false,
      }),
    );
    const saved = pkv.save();
    const restored = SkvqPastKeyValues.load(saved, skvqCacheOptions(model.config, options));
    expect(restored.save()).toEqual(saved);
    const next = async (p: SkvqPastKeyValues) =>
      list(
        await model.generate({
          ...ids(first),
          past_key_values: p.asDynamicCache(),
          max_new_tokens: 30,
          do_sample: false,
        }),
      );
    expect(await next(restored)).toEqual(await next(pkv));
  });

  it('rejects a calibration made for another geometry', () => {
    const other = { ...calibration, geometry: { ...calibration.geometry, kvHeads: 8 } };
    expect(() =>
      createSkvqPastKeyValues(model.config, { storage: 'skvq', calibration: other }),
    ).toThrow(expect.objectContaining({ code: 'CALIBRATION_GEOMETRY_MISMATCH' }));
  });
});
