import { resolve } from 'node:path';
import { generate } from '@skvq/adapter-llama';
import { intOption, parseCommandArgs, stringOption } from '../args.js';
import { splitBits } from '../bits-split.js';
import { cacheFactory } from '../caches.js';
import {
  calibrateCaptured,
  calibrationDefaults,
  captureActivations,
  DEFAULT_CALIBRATION_SEED,
} from '../calibration-run.js';
import {
  COMMON_HELP,
  type CommandContext,
  logger,
  MODEL_HELP,
  MODEL_OPTIONS,
  openModel,
} from '../context.js';
import { LONG_CONTEXT_SETTINGS, measureLongContextMemory } from '../long-context.js';
import { parseMethods } from '../methods.js';
import { resultsTable, writeResults } from '../results-files.js';
import { fmt } from '../table.js';
import { readStories, resolveText } from '../text.js';
import { type EvalRequest, PROTOCOL_NOTES, runEvaluation } from './eval.js';

export const DEMO_METHODS = 'fp32,rtn-k2v2,kivi-k2v2,skvq-k2v2,skvq-k2v1.5';
export const DEMO_STORIES = 20;
export const DEMO_CALIBRATION_TOKENS = 4096;
export const DEMO_GENERATE_TOKENS = 300;
/** Tokens of the long-context memory figure (one Llama-2-7B layer). */
export const DEMO_LONG_CONTEXT_TOKENS = 32_768;
const DEMO_WINDOW = 32;
const DEMO_SAMPLE_TOKENS = 256;
const DEMO_SINKS = 5;

export const DEMO_HELP = `skvq demo: the whole pipeline on stories260K in about a minute

Usage: skvq demo [options]

1. calibrates SKVQ (reorder + clip, the clip search modelling the window-32/5-sink cache
   in the decode protocol) on ${DEMO_CALIBRATION_TOKENS} tokens of the text's last stories,
2. evaluates ${DEMO_METHODS} on the first ${DEMO_STORIES} stories in the decode
   protocol (what generation sees; window 32, sinks 5, group 8, fp16 scales; real bytes),
3. generates ${DEMO_GENERATE_TOKENS} tokens with the SKVQ K2V1.5 cache and prints its bits per element
   against fp16,
4. fills an SKVQ K2V1.5 cache of one Llama-2-7B layer (group 128, fp8 scales) with
   ${DEMO_LONG_CONTEXT_TOKENS} tokens and prints the bytes it holds against fp16.

Options:
${MODEL_HELP}
      --text FILE       text (default: tinystories-valid-head.txt beside the models)
      --stories N       stories to evaluate (default ${DEMO_STORIES})
      --methods LIST    methods to evaluate (default ${DEMO_METHODS})
      --calib-tokens N  calibration tokens (default ${DEMO_CALIBRATION_TOKENS})
      --tokens N        tokens to generate (default ${DEMO_GENERATE_TOKENS})
      --long-tokens N   tokens of the long-context memory figure (default ${DEMO_LONG_CONTEXT_TOKENS}; 0 skips it)
  -o, --out DIR         also write results.json/csv and the plots there
${COMMON_HELP}
`;

export const DEMO_OPTIONS = {
  ...MODEL_OPTIONS,
  text: { type: 'string' },
  stories: { type: 'string' },
  methods: { type: 'string' },
  'calib-tokens': { type: 'string' },
  tokens: { type: 'string' },
  'long-tokens': { type: 'string' },
  out: { type: 'string', short: 'o' },
} as const;

export async function demoCommand(ctx: CommandContext, argv: readonly string[]): Promise<number> {
  const cmd = 'demo';
  const { values } = parseCommandArgs(cmd, argv, DEMO_OPTIONS);
  if (values.help) {
    ctx.io.stdout(DEMO_HELP);
    return 0;
  }
  const storiesN = intOption(values, 'stories', DEMO_STORIES, cmd, 1);
  const methods = parseMethods(stringOption(values, 'methods') ?? DEMO_METHODS, cmd);
  const calibTokens = intOption(values, 'calib-tokens', DEMO_CALIBRATION_TOKENS, cmd, 1);
  const genTokens = intOption(values, 'tokens', DEMO_GENERATE_TOKENS, cmd, 1);
  const longTokens = intOption(values, 'long-tokens', DEMO_LONG_CONTEXT_TOKENS, cmd, 0);
  const objective = { protocol: 'decode', window: DEMO_WINDOW, sinks: DEMO_SINKS } as const;
  const silent = values.quiet === true || values.json === true;
  const log = logger(ctx.io, values);
  const out = ctx.io.stdout;
  const started = performance.now();
  const textPath = resolveText(stringOption(values, 'text'), ctx.io.env, ctx.io.cwd);
  const { model, backend } = await openModel(ctx, values, log);
  const stories = readStories(textPath);
  if (!values.json) out(`== 1. calibrate SKVQ K2V1.5 on the last stories of ${textPath}\n`);
  const captured = await captureActivations(
    backend,
    model,
    stories.slice(-300),
    calibTokens,
    'demo: last 300 stories',
  );
  // The clip search with the cache objective costs O(sample tokens x story length); the demo
  // searches on 256 tokens per layer (eval's default is 1,024) to stay near a minute.
  const calibrate = (bits: { k: 2; v: 2 | 1.5 }) =>
    calibrateCaptured(ctx.registry, model, captured, {
      bits,
      meta: 'fp16',
      groupSize: 8,
      grouping: 'cluster',
      seed: DEFAULT_CALIBRATION_SEED,
      ...calibrationDefaults(objective),
      sampleTokens: DEMO_SAMPLE_TOKENS,
    });
  const artifact = await calibrate({ k: 2, v: 1.5 });
  const artifactK2V2 = await calibrate({ k: 2, v: 2 });
  {
    if (!values.json) {
      out(
        `   ${captured.tokens} tokens; alphas K ${artifact.layers.map((l) => l.k.alpha).join(' ')} | V ${artifact.layers.map((l) => l.v.alpha).join(' ')}\n`,
      );
      out(
        `== 2. evaluate on the first ${storiesN} stories, decode protocol (window 32, sinks 5, group 8)\n   ${PROTOCOL_NOTES.decode}\n`,
      );
    }
    const req: EvalRequest = {
      methods,
      protocol: 'decode',
      stories: storiesN,
      windows: [DEMO_WINDOW],
      sinks: [DEMO_SINKS],
      groupSizes: [8],
      meta: 'fp16',
      grouping: 'cluster',
      precomputed: { captured, artifacts: [artifact, artifactK2V2] },
      calibTokens,
      fpPrecision: 'fp16',
      prefillAttention: 'quantized',
      attentionStories: 1,
    };
    const run = await runEvaluation(ctx, model, backend, stories, req, log, silent);
    if (!values.json) out(resultsTable(run.rows));
    const outDir = stringOption(values, 'out');
    if (outDir) {
      const files = await writeResults(
        resolve(ctx.io.cwd, outDir),
        run.rows,
        { command: `skvq demo ${argv.join(' ')}`, model: model.identity, protocol: 'decode' },
        true,
      );
      if (!values.json) for (const f of files) out(`   wrote ${f}\n`);
    }
    if (!values.json)
      out(`== 3. generate ${genTokens} tokens with the SKVQ K2V1.5 cache (window 32, sinks 5)\n`);
    const spec = parseMethods('skvq-k2v1.5', cmd)[0]!;
    const cache = cacheFactory(
      ctx.registry,
      backend,
      model,
      spec,
      {
        window: DEMO_WINDOW,
        sinks: DEMO_SINKS,
        groupSize: 8,
        meta: 'fp16',
        fpPrecision: 'fp16',
        prefillAttention: 'quantized',
      },
      artifact,
    )();
    const gen = await generate(model, {
      prompt: 'Once upon a time',
      maxTokens: Math.min(genTokens, model.config.contextLength - 8),
      cache,
      // a few hundred tokens even when a story ends: the model starts another one
      stopAtEos: false,
    });
    const bytes = cache.bytes();
    // bytes held (without the unused capacity of the last pages) vs the same tokens in fp16
    const held = bytes.total - bytes.pageSlack;
    const fp16 = bytes.elements * 2;
    const split = splitBits(cache);
    const genBits = {
      tokens: bytes.tokens,
      bitsHeld: (8 * held) / bytes.elements,
      bitsAllocated: bytes.bitsPerElement,
      codesMetaBits: (8 * split.codesMetaBytes) / split.codesMetaElements,
      heldBytes: held,
      fp16Bytes: fp16,
    };
    if (!values.json) {
      out(`Once upon a time${gen.text}\n`);
      out(
        `   ${gen.generated.length} tokens at ${fmt(gen.tokensPerSecond, 1)} tokens/s; the cache holds ${bytes.tokens} tokens in ${held} bytes = ${fmt(genBits.bitsHeld, 2)} bits/element (codes+metadata ${fmt(genBits.codesMetaBits, 2)} bits, the rest is the fp16 window of ${DEMO_WINDOW}, ${DEMO_SINKS} sinks, positions and permutations; ${bytes.total} bytes allocated) vs fp16 16 bits = ${fp16} bytes (${fmt(fp16 / held, 2)}x)\n`,
      );
    }
    let long: Awaited<ReturnType<typeof measureLongContextMemory>> | undefined;
    if (longTokens > 0) {
      const l = LONG_CONTEXT_SETTINGS;
      if (!values.json)
        out(
          `== 4. long context: one Llama-2-7B layer (32 KV heads x 128) filled with ${longTokens} synthetic tokens, SKVQ K${l.keyBits}V${l.valueBits} group ${l.groupSize} ${l.meta}, window ${l.window}, ${l.sinks} sinks\n`,
        );
      long = await measureLongContextMemory(ctx.registry, backend, longTokens);
      if (!values.json) {
        const mib = (b: number) => `${fmt(b / 2 ** 20, 1)} MiB`;
        out(
          `   holds ${mib(long.heldBytes)} (${fmt(long.bitsHeld, 3)} bits/element; codes+metadata ${fmt(long.codesMetaBits, 3)}) vs fp16 ${mib(long.fp16Bytes)}: ${fmt(long.fp16Bytes / long.heldBytes, 2)}x smaller; x32 layers: ${mib(32 * long.heldBytes)} vs ${mib(32 * long.fp16Bytes)} (filled in ${fmt(long.fillSeconds, 1)} s)\n`,
        );
      }
    }
    const seconds = (performance.now() - started) / 1000;
    if (values.json) {
      out(
        `${JSON.stringify({ protocol: 'decode', rows: run.rows, generated: gen.text, tokensPerSecond: gen.tokensPerSecond, cacheBytes: bytes, generation: genBits, fp16Bytes: fp16, longContext: long ? { tokens: long.tokens, heldBytes: long.heldBytes, fp16Bytes: long.fp16Bytes, bitsHeld: long.bitsHeld, codesMetaBits: long.codesMetaBits, bytes: long.bytes } : null, seconds }, null, 1)}\n`,
      );
      return 0;
    }
    out(`demo finished in ${seconds.toFixed(1)} s\n`);
    return 0;
  }
}
