import { resolve } from 'node:path';
import type { CalibrationArtifact } from '@skvq/core';
import {
  choiceOption,
  intOption,
  metaOption,
  parseCommandArgs,
  parseKvBits,
  stringOption,
} from '../args.js';
import { artifactTime, exportFormatsOption, writeCalibrationFiles } from '../calibration-files.js';
import {
  attentionErrorSummary,
  type CapturedActivations,
  calibrateCaptured,
  captureActivations,
  DEFAULT_CALIBRATION_SEED,
  DEFAULT_CALIBRATION_TOKENS,
  groupsPerLayer,
} from '../calibration-run.js';
import {
  CLIP_SEARCH_HELP,
  CLIP_SEARCH_OPTIONS,
  clipSearchSettings,
} from '../clip-search-options.js';
import {
  COMMON_HELP,
  type CommandContext,
  logger,
  MODEL_HELP,
  MODEL_OPTIONS,
  openModel,
} from '../context.js';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';
import { fmt, renderTable } from '../table.js';
import { CALIBRATION_STORIES, readStories, resolveText } from '../text.js';
import { calibrateActivationsCommand, wantsActivations } from './calibrate-activations.js';

export const CALIBRATE_HELP = `skvq calibrate: fit SKVQ's channel reordering and clip ratios on text

Usage: skvq calibrate --out calib.json [options]
       skvq calibrate --activations FILE|DIR --out calib.json [options]   (no model: see
                        skvq calibrate --activations x --help)

Runs the calibration text through the model, captures each layer's pre-RoPE keys and values
(the adapter's onActivations hook), clusters channels by their (min, max) with k-means into
groups, searches each layer's clip ratio alpha on the attention-output error, and writes the
calibration artifact (JSON). Prints groups per layer, chosen alphas and attention errors.

Options:
${MODEL_HELP}
      --text FILE       calibration text (default: tinystories-valid-head.txt beside the
                        models; its last ${CALIBRATION_STORIES} stories are used)
  -o, --out FILE        where to write the artifact (required)
      --export LIST     also write permutations, groups, clip ratios: safetensors, npy or all
      --bits KxVy       bits of keys and values, e.g. K2V1.5 (default K2V1.5); 8, 4, 3, 2, 1.5
      --group-size N    nominal channels per group (default 8; kvHidden/N clusters)
      --grouping G      cluster (raw k-means clusters) or equal (equal-size groups); default cluster
${CLIP_SEARCH_HELP}
      --tokens N        calibration tokens (default ${DEFAULT_CALIBRATION_TOKENS})
      --seed N          k-means seed (default ${DEFAULT_CALIBRATION_SEED})
      --meta M          scale/zero storage: fp16, fp8e4m3, fp32 (default fp16)
      --runtime R       llama2c (default) or transformers: --model DIR is then a transformers.js
                        folder (config.json, onnx/model.onnx); its present.* keys (post-RoPE)
                        and values are captured, keys also stand in for the queries
${COMMON_HELP}
`;

export const CALIBRATE_OPTIONS = {
  ...MODEL_OPTIONS,
  text: { type: 'string' },
  out: { type: 'string', short: 'o' },
  bits: { type: 'string' },
  'group-size': { type: 'string' },
  grouping: { type: 'string' },
  ...CLIP_SEARCH_OPTIONS,
  tokens: { type: 'string' },
  seed: { type: 'string' },
  meta: { type: 'string' },
  runtime: { type: 'string' },
  export: { type: 'string' },
} as const;

/** Default nominal group size: 8 channels = one head of stories260K (kvHidden 32). */
export const DEFAULT_GROUP_SIZE = 8;

export function describeArtifact(
  artifact: CalibrationArtifact,
  captured?: CapturedActivations,
): string {
  const groups = groupsPerLayer(artifact);
  const errors = captured ? attentionErrorSummary(artifact, captured) : undefined;
  const headers = ['layer', 'K groups', 'K alpha', 'V groups', 'V alpha'];
  if (errors)
    headers.push(
      'K err plain',
      'K err reord',
      'K err calib',
      'V err plain',
      'V err reord',
      'V err calib',
    );
  const rows = artifact.layers.map((l, i) => {
    const row = [
      String(i),
      String(groups[i]!.k),
      fmt(l.k.alpha, 2),
      String(groups[i]!.v),
      fmt(l.v.alpha, 2),
    ];
    if (errors) {
      const e = errors[i]!;
      row.push(fmt(e.k.plain, 4), fmt(e.k.reordered, 4), fmt(e.k.calibrated, 4));
      row.push(fmt(e.v.plain, 4), fmt(e.v.reordered, 4), fmt(e.v.calibrated, 4));
    }
    return row;
  });
  return renderTable(headers, rows);
}

export async function calibrateCommand(
  ctx: CommandContext,
  argv: readonly string[],
): Promise<number> {
  const cmd = 'calibrate';
  if (wantsActivations(argv)) return calibrateActivationsCommand(ctx, argv);
  const { values } = parseCommandArgs(cmd, argv, CALIBRATE_OPTIONS);
  if (values.help) {
    ctx.io.stdout(CALIBRATE_HELP);
    return 0;
  }
  const runtime = choiceOption(
    values,
    'runtime',
    ['llama2c', 'transformers'] as const,
    'llama2c',
    cmd,
  );
  if (runtime === 'transformers') {
    const { calibrateTransformersCommand } = await import('./calibrate-transformers.js');
    return calibrateTransformersCommand(ctx, values);
  }
  const out = stringOption(values, 'out');
  if (!out)
    throw new UsageError('--out FILE is required (where the calibration artifact is written)', cmd);
  const bits = parseKvBits(stringOption(values, 'bits') ?? 'K2V1.5', cmd);
  const groupSize = intOption(values, 'group-size', DEFAULT_GROUP_SIZE, cmd, 1);
  const grouping = choiceOption(values, 'grouping', ['cluster', 'equal'] as const, 'cluster', cmd);
  const { objective, settings: clipSearch } = clipSearchSettings(values, cmd);
  const tokens = intOption(values, 'tokens', DEFAULT_CALIBRATION_TOKENS, cmd, 1);
  const seed = intOption(values, 'seed', DEFAULT_CALIBRATION_SEED, cmd, 0);
  const meta = metaOption(values, cmd);
  const exportFormats = exportFormatsOption(stringOption(values, 'export'), cmd);
  const createdAt = artifactTime(ctx.io.env, cmd);
  const log = logger(ctx.io, values);
  const textPath = resolveText(stringOption(values, 'text'), ctx.io.env, ctx.io.cwd);
  const { model, backend } = await openModel(ctx, values, log);
  const stories = readStories(textPath);
  const calibStories = stories.slice(Math.max(0, stories.length - CALIBRATION_STORIES));
  const progress = createProgress(ctx.io, 'capture', values.quiet === true || values.json === true);
  const captured = await captureActivations(
    backend,
    model,
    calibStories,
    tokens,
    `${textPath} (last ${calibStories.length} stories)`,
    (d, t) => progress.update(d, t, 'tokens'),
  );
  progress.done(`${captured.tokens} tokens from ${captured.stories} stories`);
  const calibrated = await calibrateCaptured(ctx.registry, model, captured, {
    bits,
    meta,
    groupSize,
    grouping,
    seed,
    ...clipSearch,
  });
  const outPath = resolve(ctx.io.cwd, out);
  const { artifact, exports } = writeCalibrationFiles(outPath, calibrated, {
    createdAt,
    exports: exportFormats,
  });
  if (values.json) {
    const errors = attentionErrorSummary(artifact, captured);
    ctx.io.stdout(
      `${JSON.stringify({ out: outPath, tokens: captured.tokens, groups: groupsPerLayer(artifact), alphas: artifact.layers.map((l) => ({ k: l.k.alpha, v: l.v.alpha })), attentionError: errors }, null, 1)}\n`,
    );
    return 0;
  }
  ctx.io.stdout(
    `calibrated ${model.identity.name} at K${bits.k}V${bits.v}, group size ${groupSize} (${grouping}), meta ${meta}, on ${captured.tokens} tokens; clip objective ${objective ? `${objective.protocol} window ${objective.window} sinks ${objective.sinks}` : 'all tokens quantized'}\n`,
  );
  ctx.io.stdout(describeArtifact(artifact, captured));
  ctx.io.stdout(
    'attention-output relative error on the calibration samples: plain = contiguous groups, no clip (RTN); reord = calibrated groups, no clip; calib = groups + chosen alpha\n',
  );
  ctx.io.stdout(`wrote ${outPath}\n`);
  for (const e of exports) ctx.io.stdout(`wrote ${e}\n`);
  return 0;
}
