import { resolve } from 'node:path';
import { generate } from '@skvq/adapter-llama';
import { intOption, parseCommandArgs, stringOption } from '../args.js';
import { cacheFactory } from '../caches.js';
import {
  calibrateCaptured,
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
import { parseMethods } from '../methods.js';
import { resultsTable, writeResults } from '../results-files.js';
import { fmt } from '../table.js';
import { readStories, resolveText } from '../text.js';
import { type EvalRequest, runEvaluation } from './eval.js';

export const DEMO_METHODS = 'fp32,rtn-k2v2,kivi-k2v2,skvq-k2v2,skvq-k2v1.5';
export const DEMO_STORIES = 20;
export const DEMO_CALIBRATION_TOKENS = 4096;
export const DEMO_GENERATE_TOKENS = 48;

export const DEMO_HELP = `skvq demo: the whole pipeline on stories260K in about a minute

Usage: skvq demo [options]

1. calibrates SKVQ (reorder + clip) on ${DEMO_CALIBRATION_TOKENS} tokens of the text's last stories,
2. evaluates ${DEMO_METHODS} on the first ${DEMO_STORIES} stories
   (window 32, sinks 5, group 8, fp16 scales; real cache bytes),
3. generates a short story with the SKVQ K2V1.5 cache and prints its memory against fp16.

Options:
${MODEL_HELP}
      --text FILE       text (default: tinystories-valid-head.txt beside the models)
      --stories N       stories to evaluate (default ${DEMO_STORIES})
      --methods LIST    methods to evaluate (default ${DEMO_METHODS})
      --calib-tokens N  calibration tokens (default ${DEMO_CALIBRATION_TOKENS})
  -o, --out DIR         also write results.json/csv and the plots there
${COMMON_HELP}
`;

export const DEMO_OPTIONS = {
  ...MODEL_OPTIONS,
  text: { type: 'string' },
  stories: { type: 'string' },
  methods: { type: 'string' },
  'calib-tokens': { type: 'string' },
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
  const artifact = await calibrateCaptured(ctx.registry, model, captured, {
    bits: { k: 2, v: 1.5 },
    meta: 'fp16',
    groupSize: 8,
    grouping: 'cluster',
    seed: DEFAULT_CALIBRATION_SEED,
  });
  {
    if (!values.json) {
      out(
        `   ${captured.tokens} tokens; alphas K ${artifact.layers.map((l) => l.k.alpha).join(' ')} | V ${artifact.layers.map((l) => l.v.alpha).join(' ')}\n`,
      );
      out(`== 2. evaluate on the first ${storiesN} stories (window 32, sinks 5, group 8)\n`);
    }
    const req: EvalRequest = {
      methods,
      protocol: 'decode',
      stories: storiesN,
      windows: [32],
      sinks: [5],
      groupSizes: [8],
      meta: 'fp16',
      grouping: 'cluster',
      precomputed: { captured, artifacts: [artifact] },
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
        { command: `skvq demo ${argv.join(' ')}`, model: model.identity },
        true,
      );
      if (!values.json) for (const f of files) out(`   wrote ${f}\n`);
    }
    if (!values.json) out(`== 3. generate with the SKVQ K2V1.5 cache (window 32, sinks 5)\n`);
    const spec = parseMethods('skvq-k2v1.5', cmd)[0]!;
    const cache = cacheFactory(
      ctx.registry,
      backend,
      model,
      spec,
      {
        window: 32,
        sinks: 5,
        groupSize: 8,
        meta: 'fp16',
        fpPrecision: 'fp16',
        prefillAttention: 'quantized',
      },
      artifact,
    )();
    const gen = await generate(model, {
      prompt: 'Once upon a time',
      maxTokens: DEMO_GENERATE_TOKENS,
      cache,
    });
    const bytes = cache.bytes();
    // bytes held (without the unused capacity of the last pages) vs the same tokens in fp16
    const held = bytes.total - bytes.pageSlack;
    const fp16 = bytes.elements * 2;
    const seconds = (performance.now() - started) / 1000;
    if (values.json) {
      out(
        `${JSON.stringify({ rows: run.rows, generated: gen.text, tokensPerSecond: gen.tokensPerSecond, cacheBytes: bytes, fp16Bytes: fp16, seconds }, null, 1)}\n`,
      );
      return 0;
    }
    out(`Once upon a time${gen.text}\n`);
    out(
      `   ${gen.generated.length} tokens at ${fmt(gen.tokensPerSecond, 1)} tokens/s; cache holds ${held} bytes (${fmt((8 * held) / bytes.elements, 2)} bits/element; ${bytes.total} allocated) vs fp16 ${fp16} bytes\n`,
    );
    out(`demo finished in ${seconds.toFixed(1)} s\n`);
    return 0;
  }
}
