import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateStream } from '@skvq/adapter-llama';
import { type DenseCache, type QuantizedCache, saveCacheAsync } from '@skvq/cache';
import type { CalibrationArtifact } from '@skvq/core';
import { SkvqError } from '@skvq/core';
import { writeAtomically } from '@skvq/interchange';
import { choiceOption, intOption, metaOption, parseCommandArgs, stringOption } from '../args.js';
import { cacheFactory } from '../caches.js';
import {
  calibrateCaptured,
  calibrationDefaults,
  captureActivations,
  DEFAULT_CALIBRATION_SEED,
} from '../calibration-run.js';
import { DEFAULT_OBJECTIVE_WINDOW } from '../clip-search-options.js';
import {
  COMMON_HELP,
  type CommandContext,
  logger,
  MODEL_HELP,
  MODEL_OPTIONS,
  openModel,
} from '../context.js';
import { UsageError } from '../errors.js';
import { needsCalibration, parseMethod } from '../methods.js';
import { fmt } from '../table.js';
import { readStories, resolveText } from '../text.js';
import { readCalibration } from './eval.js';

export const DEFAULT_PROMPT = 'Once upon a time';
/**
 * 300 tokens with a 32-token window (eval's and the demo's configuration for stories260K's
 * 512-token context): most of the cache is packed, so the bits it reports show the method.
 * The paper's window of 128 is meant for long contexts; here it would hold the whole reply.
 */
export const DEFAULT_MAX_TOKENS = 300;
export const DEFAULT_GENERATE_WINDOW = DEFAULT_OBJECTIVE_WINDOW;
/** Tokens per layer of the on-the-fly clip search (the demo's: about a second). */
const GENERATE_SAMPLE_TOKENS = 256;
/** Calibration tokens when generate must calibrate on the fly (no --calib). */
export const GENERATE_CALIBRATION_TOKENS = 4096;

export const GENERATE_HELP = `skvq generate: stream a continuation with the KV cache of your choice

Usage: skvq generate [--prompt TEXT] [--cache METHOD] [options]

Options:
${MODEL_HELP}
  -p, --prompt TEXT     prompt (default "${DEFAULT_PROMPT}")
      --cache METHOD    fp32, fp16, or a method of the eval grammar: skvq (= skvq-k2v1.5),
                        skvq-k2v2, kivi-k2v2, rtn-k4v4, kivi+skvq-k2v1.5 ... (default skvq)
      --calib FILE      calibration artifact (skvq); else calibrated on the fly on the text
      --text FILE       text for on-the-fly calibration (its last stories)
      --max-tokens N    tokens to generate (default ${DEFAULT_MAX_TOKENS})
      --window N        full-precision recent tokens (default ${DEFAULT_GENERATE_WINDOW})
      --sinks N         attention sinks (default 5)
      --group-size N    channels per group for rtn/kivi values (default 8)
      --meta M          fp16, fp8e4m3, fp32 (default fp16)
      --temperature T   0 = greedy (default 0)
      --seed N          sampling seed (default 0)
      --save-cache FILE write the cache afterwards (skvq inspect FILE describes it)
${COMMON_HELP}
`;

export const GENERATE_OPTIONS = {
  ...MODEL_OPTIONS,
  prompt: { type: 'string', short: 'p' },
  cache: { type: 'string' },
  calib: { type: 'string' },
  text: { type: 'string' },
  'max-tokens': { type: 'string' },
  window: { type: 'string' },
  sinks: { type: 'string' },
  'group-size': { type: 'string' },
  meta: { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  'fp-precision': { type: 'string' },
  'save-cache': { type: 'string' },
} as const;

export async function generateCommand(
  ctx: CommandContext,
  argv: readonly string[],
): Promise<number> {
  const cmd = 'generate';
  const { values } = parseCommandArgs(cmd, argv, GENERATE_OPTIONS);
  if (values.help) {
    ctx.io.stdout(GENERATE_HELP);
    return 0;
  }
  const cacheName = stringOption(values, 'cache') ?? 'skvq';
  const spec = parseMethod(cacheName === 'skvq' ? 'skvq-k2v1.5' : cacheName, cmd);
  const maxTokens = intOption(values, 'max-tokens', DEFAULT_MAX_TOKENS, cmd, 0);
  const window = intOption(values, 'window', DEFAULT_GENERATE_WINDOW, cmd);
  const sinks = intOption(values, 'sinks', 5, cmd);
  const groupSize = intOption(values, 'group-size', 8, cmd, 1);
  const meta = metaOption(values, cmd);
  const fpPrecision = choiceOption(values, 'fp-precision', ['fp16', 'fp32'] as const, 'fp16', cmd);
  const tRaw = stringOption(values, 'temperature') ?? '0';
  const temperature = Number(tRaw);
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new UsageError(`--temperature must be a number >= 0, got "${tRaw}"`, cmd);
  }
  const seed = intOption(values, 'seed', 0, cmd);
  const prompt = stringOption(values, 'prompt') ?? DEFAULT_PROMPT;
  const log = logger(ctx.io, values);
  const { model, backend } = await openModel(ctx, values, log);
  let calibration: CalibrationArtifact | undefined;
  const calibPath = stringOption(values, 'calib');
  if (needsCalibration(spec)) {
    if (calibPath) calibration = readCalibration(calibPath, model, ctx.io.cwd);
    else if (spec.kind === 'quantized') {
      const stories = readStories(
        resolveText(stringOption(values, 'text'), ctx.io.env, ctx.io.cwd),
      );
      log(
        `no --calib: calibrating on the fly (${GENERATE_CALIBRATION_TOKENS} tokens of the text's last stories)`,
      );
      const captured = await captureActivations(
        backend,
        model,
        stories.slice(-300),
        GENERATE_CALIBRATION_TOKENS,
        'generate on-the-fly',
      );
      calibration = await calibrateCaptured(ctx.registry, model, captured, {
        bits: { k: spec.keys.bits, v: spec.values.bits },
        meta,
        groupSize,
        grouping: 'cluster',
        seed: DEFAULT_CALIBRATION_SEED,
        // the clip search models this cache: its window and sinks at full precision
        ...calibrationDefaults({ protocol: 'decode', window, sinks }),
        sampleTokens: GENERATE_SAMPLE_TOKENS,
      });
    }
  }
  if (spec.kind === 'quantized' && spec.noReorder)
    throw new UsageError(':noreorder is an eval ablation only', cmd);
  const make = cacheFactory(
    ctx.registry,
    backend,
    model,
    spec,
    { window, sinks, groupSize, meta, fpPrecision, prefillAttention: 'quantized' },
    calibration,
  );
  const cache = make();
  if (!model.tokenizer)
    throw new SkvqError('INVALID_ARGUMENT', 'generate needs a tokenizer; pass --tokenizer');
  const stats = { prefillMs: 0, decodeMs: 0, promptTokens: 0 };
  let text = '';
  let count = 0;
  if (!values.json) ctx.io.stdout(prompt);
  for await (const token of generateStream(
    model,
    { prompt, maxTokens, temperature, seed, cache },
    stats,
  )) {
    text += token.text;
    count++;
    if (!values.json) ctx.io.stdout(token.text);
  }
  const savePath = stringOption(values, 'save-cache');
  if (savePath) {
    const target = resolve(ctx.io.cwd, savePath);
    // saveCacheAsync: a cache on a device backend (webgpu, gpujs, cuda) is read back
    // through its storage, and WebGPU's reads are asynchronous
    const bytes = await saveCacheAsync(cache as DenseCache | QuantizedCache);
    // a temporary file renamed over the target: an interrupted save never leaves half a file
    writeAtomically(target, (tmp) => writeFileSync(tmp, bytes));
    log(`wrote the cache to ${target}`);
  }
  const bytes = cache.bytes();
  // the same tokens in an fp16 dense cache: 2 bytes per element, no slack counted
  const fp16Bytes = bytes.elements * 2;
  const tokensPerSecond = stats.decodeMs > 0 ? (count / stats.decodeMs) * 1000 : Number.NaN;
  const summary = {
    cache: spec.name,
    prompt,
    text,
    promptTokens: stats.promptTokens,
    generatedTokens: count,
    tokensPerSecond,
    prefillMs: stats.prefillMs,
    cacheTokens: bytes.tokens,
    cacheBytes: bytes.total,
    fp16Bytes,
    bitsPerElement: bytes.bitsPerElement,
    ratioVsFp16: fp16Bytes > 0 ? bytes.total / fp16Bytes : Number.NaN,
    bytes,
  };
  if (values.json) {
    ctx.io.stdout(`${JSON.stringify(summary, null, 1)}\n`);
    return 0;
  }
  ctx.io.stdout('\n\n');
  ctx.io.stdout(
    `${count} tokens at ${fmt(tokensPerSecond, 1)} tokens/s (prefill of ${stats.promptTokens} tokens: ${fmt(stats.prefillMs, 0)} ms)\n` +
      `cache ${spec.name} at ${bytes.tokens} tokens: ${bytes.total - bytes.pageSlack} bytes held (${fmt((8 * (bytes.total - bytes.pageSlack)) / bytes.elements, 2)} bits/element; ${bytes.total} allocated with page slack) vs fp16 ${fp16Bytes} bytes: ${fmt((100 * (bytes.total - bytes.pageSlack)) / fp16Bytes, 1)}% of fp16\n`,
  );
  return 0;
}
