import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type LlamaModel,
  PERPLEXITY_PROTOCOLS,
  type PerplexityProtocol,
} from '@skvq/adapter-llama';
import { createDenseCache } from '@skvq/cache';
import type { CacheObjective } from '@skvq/calibrator-reorder';
import {
  type BitWidth,
  type CalibrationArtifact,
  type MetaFormat,
  parseCalibration,
  SkvqError,
} from '@skvq/core';
import {
  choiceOption,
  intListOption,
  intOption,
  metaOption,
  parseCommandArgs,
  stringOption,
} from '../args.js';
import { type CacheConfig, EVAL_PAGE_TOKENS } from '../caches.js';
import {
  type CapturedActivations,
  calibrateCaptured,
  calibrationDefaults,
  captureActivations,
  DEFAULT_CALIBRATION_SEED,
  DEFAULT_CALIBRATION_TOKENS,
  withoutReorder,
} from '../calibration-run.js';
import {
  COMMON_HELP,
  type CommandContext,
  logger,
  MODEL_HELP,
  MODEL_OPTIONS,
  openModel,
} from '../context.js';
import { UsageError } from '../errors.js';
import {
  type AttentionSample,
  captureAttentionSample,
  evaluateMethod,
  type MethodResult,
} from '../evaluate.js';
import { type MethodSpec, needsCalibration, parseMethods } from '../methods.js';
import { createProgress } from '../progress.js';
import { resultsTable, writeResults } from '../results-files.js';
import {
  CALIBRATION_STORIES,
  DEFAULT_EVAL_STORIES,
  readStories,
  resolveText,
  splitForEval,
} from '../text.js';

export const DEFAULT_METHODS = 'fp32,fp16,rtn-k2v2,kivi-k2v2,skvq-k2v2,skvq-k2v1.5';
export const DEFAULT_EVAL_WINDOW = 32;
export const DEFAULT_EVAL_SINKS = 5;
export const DEFAULT_EVAL_GROUP = 8;
/** Stories whose real K/V feed the per-layer attention-error probe. */
export const DEFAULT_ATTENTION_STORIES = 2;

export const EVAL_HELP = `skvq eval: perplexity, real average bits and attention error of KV-cache methods

Usage: skvq eval [--methods LIST] [options]

Every attention read of the forward pass goes through the method's cache (protected tokens,
i.e. the window and the sinks, stay full precision). --protocol says how (SKVQ.md section 7):
  decode   (default) teacher-forced streaming, what generation sees: each query reads its
           own last W tokens and the sinks at full precision, older tokens quantized
  prefill  each story appended at once, every query reads the quantized cache (only the
           story's last W tokens and the sinks full precision): the SKVQ paper's WikiText runs
  prompt   the first --prompt-tokens tokens (default half the story) prefilled with
           full-precision attention and stored quantized, the continuation scored in decode
Evaluation uses the first N stories of
the text; SKVQ calibration (unless --calib) uses the last ${CALIBRATION_STORIES} stories, never the same ones.
Average bits count the cache's REAL bytes: 8 * sum of cache.bytes().total at the end of
each story / sum of K/V elements (token-weighted); bits@longest is the longest story's.
codes+meta bits: codes and scales/zeros per quantized element (what grows with context);
overhead bits: window, sinks, pending blocks, positions, permutations, page slack.

Method grammar (--methods, comma-separated):
  fp32 | fp16 | <method>-k<bits>v<bits> | <keys>+<values>-k<bits>v<bits>
  method: rtn, kivi, skvq; bits: 8, 4, 3, 2, 1.5 (1.5 = ternary); e.g. kivi+skvq-k2v1.5
  skvq ablations: suffix :noreorder (identity order, contiguous groups) and/or :noclip (alpha 1)
  :postrope on any quantized method stores keys after RoPE (e.g. skvq-k2v1.5:postrope)

Options:
${MODEL_HELP}
      --text FILE         text (default: tinystories-valid-head.txt beside the models)
      --methods LIST      default ${DEFAULT_METHODS}
      --protocol P        decode (default), prefill or prompt
      --prompt-tokens N   prompt protocol: prompt tokens per story (default half the story)
      --stories N         evaluate on the first N stories (default ${DEFAULT_EVAL_STORIES})
      --window LIST       full-precision recent tokens; a list runs each (default ${DEFAULT_EVAL_WINDOW})
      --sinks LIST        attention sinks kept full precision (default ${DEFAULT_EVAL_SINKS})
      --group-size LIST   channels per group (default ${DEFAULT_EVAL_GROUP}; kvHidden of stories260K is 32)
      --meta M            scale/zero storage: fp16, fp8e4m3, fp32 (default fp16)
      --grouping G        SKVQ groups when calibrating on the fly: cluster or equal (default cluster)
      --calib FILE        calibration artifact for skvq streams (else calibrated on the fly)
      --calib-tokens N    tokens for on-the-fly calibration (default ${DEFAULT_CALIBRATION_TOKENS})
      --clip-objective O  on-the-fly clip search: cache (default: window and sinks of the
                          evaluated cache at full precision, as the protocol reads them) or
                          all (every token quantized: the paper's objective)
      --fp-precision P    storage of window/sinks in quantized caches: fp16 or fp32 (default fp16)
      --prefill-attention prefill protocol: quantized (the paper's, default) or original
      --reference-ppl X   fp32 perplexity of the same stories from an earlier run: deltas are
                          measured against it when --methods has no fp32 (saves one method)
      --attention-stories N stories for the per-layer attention error (default ${DEFAULT_ATTENTION_STORIES})
  -o, --out DIR           write results.json, results.csv, ppl-vs-bits.svg/png, bytes-per-token.svg/png
      --no-png            write the plots as SVG only
${COMMON_HELP}
`;

export const EVAL_OPTIONS = {
  ...MODEL_OPTIONS,
  text: { type: 'string' },
  methods: { type: 'string' },
  protocol: { type: 'string' },
  'prompt-tokens': { type: 'string' },
  stories: { type: 'string' },
  window: { type: 'string' },
  sinks: { type: 'string' },
  'group-size': { type: 'string' },
  meta: { type: 'string' },
  grouping: { type: 'string' },
  calib: { type: 'string' },
  'calib-tokens': { type: 'string' },
  'fp-precision': { type: 'string' },
  'prefill-attention': { type: 'string' },
  'attention-stories': { type: 'string' },
  'clip-objective': { type: 'string' },
  'reference-ppl': { type: 'string' },
  out: { type: 'string', short: 'o' },
  'no-png': { type: 'boolean' },
} as const;

export interface EvalRequest {
  methods: MethodSpec[];
  protocol: PerplexityProtocol;
  /** `prompt` protocol only; undefined = half of each story. */
  promptTokens?: number;
  stories: number;
  windows: number[];
  sinks: number[];
  groupSizes: number[];
  meta: MetaFormat;
  grouping: 'cluster' | 'equal';
  calibPath?: string;
  /** Captured calibration activations and artifacts already fitted (the demo reuses its own). */
  precomputed?: { captured: CapturedActivations; artifacts: readonly CalibrationArtifact[] };
  calibTokens: number;
  fpPrecision: 'fp16' | 'fp32';
  prefillAttention: 'quantized' | 'original';
  attentionStories: number;
  /** fp32 perplexity of the same stories and protocol from an earlier run (fp32 not rerun). */
  referencePpl?: number;
  /** On-the-fly calibration: 'cache' (default) models the evaluated cache; 'all' quantizes all. */
  clipObjective?: 'cache' | 'all';
}

export function parseEvalRequest(values: Record<string, unknown>, cmd = 'eval'): EvalRequest {
  const v = values as Parameters<typeof stringOption>[0];
  const protocol = choiceOption(v, 'protocol', PERPLEXITY_PROTOCOLS, 'decode', cmd);
  if (stringOption(v, 'prompt-tokens') !== undefined && protocol !== 'prompt')
    throw new UsageError('--prompt-tokens only applies to --protocol prompt', cmd);
  if (stringOption(v, 'prefill-attention') !== undefined && protocol !== 'prefill')
    throw new UsageError(
      '--prefill-attention only applies to --protocol prefill (decode and prompt define it)',
      cmd,
    );
  return {
    methods: parseMethods(stringOption(v, 'methods') ?? DEFAULT_METHODS, cmd),
    protocol,
    ...(stringOption(v, 'prompt-tokens') !== undefined
      ? { promptTokens: intOption(v, 'prompt-tokens', 1, cmd, 1) }
      : {}),
    stories: intOption(v, 'stories', DEFAULT_EVAL_STORIES, cmd, 1),
    windows: intListOption(v, 'window', [DEFAULT_EVAL_WINDOW], cmd),
    sinks: intListOption(v, 'sinks', [DEFAULT_EVAL_SINKS], cmd),
    groupSizes: intListOption(v, 'group-size', [DEFAULT_EVAL_GROUP], cmd, 1),
    meta: metaOption(v, cmd),
    grouping: choiceOption(v, 'grouping', ['cluster', 'equal'] as const, 'cluster', cmd),
    ...(stringOption(v, 'calib') ? { calibPath: stringOption(v, 'calib') } : {}),
    calibTokens: intOption(v, 'calib-tokens', DEFAULT_CALIBRATION_TOKENS, cmd, 1),
    fpPrecision: choiceOption(v, 'fp-precision', ['fp16', 'fp32'] as const, 'fp16', cmd),
    prefillAttention: choiceOption(
      v,
      'prefill-attention',
      ['quantized', 'original'] as const,
      'quantized',
      cmd,
    ),
    attentionStories: intOption(v, 'attention-stories', DEFAULT_ATTENTION_STORIES, cmd, 0),
    clipObjective: choiceOption(v, 'clip-objective', ['cache', 'all'] as const, 'cache', cmd),
    ...referencePplOption(v, cmd),
  };
}

function referencePplOption(
  v: Parameters<typeof stringOption>[0],
  cmd: string,
): { referencePpl?: number } {
  const raw = stringOption(v, 'reference-ppl');
  if (raw === undefined) return {};
  const x = Number(raw);
  if (!(x > 1) || !Number.isFinite(x))
    throw new UsageError(`--reference-ppl ${raw} must be a perplexity > 1`, cmd);
  return { referencePpl: x };
}

/**
 * The cache the on-the-fly clip search models: the evaluated configuration's window and sinks
 * in the evaluated protocol (prompt continuations are decoded), unless --clip-objective all.
 */
export function clipObjectiveFor(
  req: EvalRequest,
  config: CacheConfig,
): CacheObjective | undefined {
  if (req.clipObjective === 'all') return undefined;
  return {
    protocol: req.protocol === 'prefill' ? 'prefill' : 'decode',
    window: config.window,
    sinks: config.sinks,
  };
}

/** Loads --calib and checks it belongs to this model (geometry and weights fingerprint). */
export function readCalibration(path: string, model: LlamaModel, cwd: string): CalibrationArtifact {
  const full = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    throw new SkvqError('IO_ERROR', `cannot read calibration ${full}: ${(error as Error).message}`);
  }
  return parseCalibration(text, {
    geometry: model.geometry,
    fingerprint: model.identity.fingerprint,
  });
}

export interface EvalRun {
  rows: MethodResult[];
  fp32Ppl: number;
  calibrationSource: string;
}

/** Runs the whole evaluation grid (configurations x methods). */
export async function runEvaluation(
  ctx: CommandContext,
  model: LlamaModel,
  backend: Awaited<ReturnType<CommandContext['registry']['resolveBackend']>>,
  allStories: readonly string[],
  req: EvalRequest,
  log: (line: string) => void,
  silent: boolean,
  /** Called after each finished row (a long grid keeps what finished if it is stopped). */
  onRow?: (rows: readonly MethodResult[]) => Promise<void>,
): Promise<EvalRun> {
  const { evaluation, calibration: calibStories } = splitForEval(allStories, req.stories);
  const fileCalibration = req.calibPath
    ? readCalibration(req.calibPath, model, ctx.io.cwd)
    : undefined;
  let captured: CapturedActivations | undefined = req.precomputed?.captured;
  const calibrations = new Map<string, CalibrationArtifact>();
  for (const a of req.precomputed?.artifacts ?? []) {
    const s = a.settings;
    calibrations.set(
      `${a.layers[0]!.k.bits}/${a.layers[0]!.v.bits}/${s.groupSize}/${s.grouping}/${s.meta}`,
      a,
    );
  }
  const calibrationFor = async (
    spec: MethodSpec,
    config: CacheConfig,
  ): Promise<CalibrationArtifact | undefined> => {
    if (!needsCalibration(spec) || spec.kind !== 'quantized') return undefined;
    const groupSize = config.groupSize;
    let base = fileCalibration;
    const objective = clipObjectiveFor(req, config);
    if (!base) {
      const bits: { k: BitWidth; v: BitWidth } = { k: spec.keys.bits, v: spec.values.bits };
      const plainKey = `${bits.k}/${bits.v}/${groupSize}/${req.grouping}/${req.meta}`;
      const key = `${plainKey}/${objective ? `${objective.protocol} w${objective.window} s${objective.sinks}` : 'all'}`;
      base = calibrations.get(plainKey) ?? calibrations.get(key);
      if (!base) {
        if (!captured) {
          if (calibStories.length === 0) {
            throw new SkvqError(
              'INVALID_ARGUMENT',
              `no stories are left for calibration after the first ${evaluation.length}; pass --calib FILE or evaluate fewer --stories`,
            );
          }
          const p = createProgress(ctx.io, 'calibration capture', silent);
          captured = await captureActivations(
            backend,
            model,
            calibStories,
            req.calibTokens,
            `last ${calibStories.length} stories of the text`,
            (d, t) => p.update(d, t, 'tokens'),
          );
          p.done(`${captured.tokens} tokens from ${captured.stories} stories`);
        }
        log(
          `calibrating K${bits.k}V${bits.v} group ${groupSize} (${req.grouping}, ${req.meta}; clip objective ${objective ? `${objective.protocol} window ${objective.window} sinks ${objective.sinks}` : 'all tokens quantized'})`,
        );
        base = await calibrateCaptured(ctx.registry, model, captured, {
          bits,
          meta: req.meta,
          groupSize,
          grouping: req.grouping,
          seed: DEFAULT_CALIBRATION_SEED,
          ...calibrationDefaults(objective),
        });
        calibrations.set(key, base);
      }
    }
    if (spec.noReorder) {
      if (!captured)
        throw new UsageError(':noreorder needs on-the-fly calibration (omit --calib)', 'eval');
      const key = `noreorder/${spec.keys.bits}/${spec.values.bits}/${groupSize}/${req.meta}`;
      let variant = calibrations.get(key);
      if (!variant) {
        variant = withoutReorder(base, captured);
        calibrations.set(key, variant);
      }
      return variant;
    }
    return base;
  };
  const attentionSamples: AttentionSample[] = [];
  const dense = () => createDenseCache({ geometry: model.geometry, precision: 'fp32', backend });
  for (const story of evaluation.slice(0, req.attentionStories)) {
    attentionSamples.push(await captureAttentionSample(model, backend, story, dense));
  }
  const rows: MethodResult[] = [];
  const denseDone = new Map<string, MethodResult>();
  let fp32Ppl = req.referencePpl ?? Number.NaN;
  // fp32 first: every delta is measured against it
  const ordered = [...req.methods].sort(
    (a, b) => Number(b.name === 'fp32') - Number(a.name === 'fp32'),
  );
  const configs: CacheConfig[] = [];
  for (const groupSize of req.groupSizes)
    for (const window of req.windows)
      for (const sinks of req.sinks)
        configs.push({
          window,
          sinks,
          groupSize,
          meta: req.meta,
          fpPrecision: req.fpPrecision,
          prefillAttention: req.prefillAttention,
          pageTokens: EVAL_PAGE_TOKENS,
        });
  const total = configs.length * ordered.length;
  let index = 0;
  for (const config of configs) {
    for (const spec of ordered) {
      index++;
      if (spec.kind === 'dense' && denseDone.has(spec.name)) continue; // independent of the config
      const calibration = await calibrationFor(spec, config);
      const p = createProgress(ctx.io, `[${index}/${total}] ${spec.name}`, silent);
      const row = await evaluateMethod(spec, {
        registry: ctx.registry,
        backend,
        model,
        stories: evaluation,
        config,
        ...(calibration ? { calibration } : {}),
        referencePpl: fp32Ppl,
        attentionSamples,
        protocol: req.protocol,
        ...(req.promptTokens !== undefined ? { promptTokens: req.promptTokens } : {}),
        onStory: (d, t) => p.update(d, t, 'stories'),
      });
      p.done();
      if (spec.name === 'fp32') fp32Ppl = row.ppl;
      if (spec.kind === 'dense') denseDone.set(spec.name, row);
      rows.push(row);
      await onRow?.(rows);
      log(
        `${spec.name} ${spec.kind === 'dense' ? '' : `w${config.window} s${config.sinks} g${config.groupSize} `}${req.protocol} ppl ${row.ppl.toFixed(4)} codes+meta bits ${row.codesMetaBits.toFixed(3)} avg bits ${row.avgBits.toFixed(3)} (${row.seconds.toFixed(1)} s, ${row.cpuSeconds.toFixed(1)} s CPU)`,
      );
    }
  }
  // rows evaluated before fp32 (none, as fp32 runs first) keep their delta; recompute to be safe
  if (Number.isFinite(fp32Ppl))
    for (const r of rows) r.deltaPct = (100 * (r.ppl - fp32Ppl)) / fp32Ppl;
  return {
    rows,
    fp32Ppl,
    calibrationSource: fileCalibration
      ? String(req.calibPath)
      : captured
        ? `on the fly: ${captured.tokens} tokens of the last ${calibStories.length} stories`
        : 'none',
  };
}

const BITS_NOTE =
  'avgBits = 8 * sum(cache.bytes().total - pageSlack at the end of each story) / sum(elements) (token-weighted over stories); avgBitsAllocated includes the unused page capacity; bitsAtLongest = cache.bytes().bitsPerElement of the longest story (with slack); codesMetaBits = 8 * (codes + scales/zeros) / quantized elements (what grows with context; dense: 16/32); overheadBits = 8 * (window + sinks + pending + positions + permutations + page slack) / all elements';

/** What each protocol models, for results files and tables (SKVQ.md section 7). */
export const PROTOCOL_NOTES: Readonly<Record<PerplexityProtocol, string>> = {
  decode:
    'teacher-forced streaming: each query sees its own last W tokens and the sinks at full precision, older tokens quantized (what generation experiences)',
  prefill:
    "each story appended at once, every query reads the quantized cache (only the story's last W tokens and the sinks full precision): the SKVQ paper's WikiText protocol",
  prompt:
    'prompt prefilled with full-precision attention and stored quantized, continuation scored in decode protocol (LongBench-like; KIVI and Hugging Face QuantizedCache)',
};

export async function evalCommand(ctx: CommandContext, argv: readonly string[]): Promise<number> {
  const cmd = 'eval';
  const { values } = parseCommandArgs(cmd, argv, EVAL_OPTIONS);
  if (values.help) {
    ctx.io.stdout(EVAL_HELP);
    return 0;
  }
  const req = parseEvalRequest(values, cmd);
  const silent = values.quiet === true || values.json === true;
  const log = logger(ctx.io, values);
  const textPath = resolveText(stringOption(values, 'text'), ctx.io.env, ctx.io.cwd);
  const { model, backend } = await openModel(ctx, values, log);
  const stories = readStories(textPath);
  const started = performance.now();
  const metadata: Record<string, unknown> = {
    command: `skvq eval ${argv.join(' ')}`,
    date: new Date().toISOString(),
    model: model.identity,
    geometry: model.geometry,
    text: textPath,
    stories: Math.min(req.stories, stories.length),
    calibration: 'pending',
    protocol: req.protocol,
    protocolNote: PROTOCOL_NOTES[req.protocol],
    ...(req.protocol === 'prompt'
      ? { promptTokens: req.promptTokens ?? 'half of each story' }
      : {}),
    fpPrecision: req.fpPrecision,
    ...(req.protocol === 'prefill' ? { prefillAttention: req.prefillAttention } : {}),
    pageTokens: EVAL_PAGE_TOKENS,
    bitsNote: BITS_NOTE,
  };
  const out = stringOption(values, 'out');
  const outDir = out ? resolve(ctx.io.cwd, out) : undefined;
  // partial results after every method (no PNG until the end: it is the slow part)
  const partial = outDir
    ? async (rows: readonly MethodResult[]) => {
        await writeResults(outDir, rows, { ...metadata, complete: false }, false);
      }
    : undefined;
  const run = await runEvaluation(ctx, model, backend, stories, req, log, silent, partial);
  metadata.calibration = run.calibrationSource;
  metadata.seconds = (performance.now() - started) / 1000;
  metadata.complete = true;
  let files: string[] = [];
  if (outDir) files = await writeResults(outDir, run.rows, metadata, values['no-png'] !== true);
  if (values.json) {
    ctx.io.stdout(`${JSON.stringify({ ...metadata, rows: run.rows, files }, null, 1)}\n`);
    return 0;
  }
  ctx.io.stdout(`protocol ${req.protocol}: ${PROTOCOL_NOTES[req.protocol]}\n`);
  ctx.io.stdout(resultsTable(run.rows));
  ctx.io.stdout(
    `fp32 perplexity ${run.fp32Ppl.toFixed(4)} over ${metadata.stories} stories; calibration: ${run.calibrationSource}\n`,
  );
  for (const f of files) ctx.io.stdout(`wrote ${f}\n`);
  return 0;
}
