import { resolve } from 'node:path';
import type { RopeStyle } from '@skvq/core';
import {
  type ActivationOverrides,
  calibrateFromActivations,
  KEYS_STATES,
  type KeysState,
  openActivations,
} from '@skvq/interchange';
import {
  choiceOption,
  intOption,
  metaOption,
  parseCommandArgs,
  parseKvBits,
  stringOption,
} from '../args.js';
import { artifactTime, exportFormatsOption, writeCalibrationFiles } from '../calibration-files.js';
import { DEFAULT_CALIBRATION_SEED, groupsPerLayer } from '../calibration-run.js';
import {
  CLIP_SEARCH_HELP,
  CLIP_SEARCH_OPTIONS,
  clipSearchSettings,
} from '../clip-search-options.js';
import { COMMON_HELP, type CommandContext, logger } from '../context.js';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';
import { DEFAULT_GROUP_SIZE, describeArtifact } from './calibrate.js';

/** A function, not a constant: calibrate.ts and this file import each other. */
export const calibrateActivationsHelp =
  (): string => `skvq calibrate --activations: calibrate from captured K/V, without a model

Usage: skvq calibrate --activations FILE|DIR [--activations ...] --out calib.json [options]

Reads per-layer keys and values captured from any runtime (safetensors F32/F16/BF16, or
.npy F32/F16), streaming them chunk by chunk, and writes the same calibration artifact as
calibrating a model here. Tensor names: layers.{i}.k and layers.{i}.v (required), layers.{i}.q
(optional: the clip search uses the captured queries; without them each query head reads its
own KV head's key as a stand-in), positions (optional I32/I64 [tokens]; default one sequence
0..n-1 per file). Shapes [tokens, kvHeads*headDim] or [tokens, kvHeads, headDim]. Several
files: tensors of one layer in several files are concatenated in the order given; a folder
means its .safetensors files and its .npy files (+ metadata.json), sorted by name.
Geometry and identity come from the file's metadata (layers, query_heads, kv_heads, head_dim,
rope_style, rope_theta, keys, model, fingerprint, source) or these flags; a flag that
contradicts the file is an error. See packages/interchange/README.md for capture recipes.

Options:
      --activations P   a capture file (.safetensors, .npy) or folder; repeatable
  -o, --out FILE        where to write the artifact (required); written atomically
      --export LIST     also write permutations, groups, clip ratios: safetensors, npy or all
                        (calib.json -> calib.safetensors, calib-npy/)
      --keys K          pre-rope (k_proj output; default) or post-rope (rotated back to
                        pre-RoPE with --rope-style/--rope-theta at the file's positions)
      --layers N        --query-heads N   --kv-heads N   --head-dim N
      --rope-style S    pairwise (llama2.c, GGUF), half (Hugging Face), none
      --rope-theta X    RoPE base (10000 Llama-2, 500000 Llama-3)
      --model-name S    --fingerprint S   model identity recorded in the artifact
      --bits KxVy       bits of keys and values, e.g. K2V1.5 (default K2V1.5)
      --group-size N    nominal channels per group (default ${DEFAULT_GROUP_SIZE}; 128 is the paper's for 7B)
      --grouping G      cluster or equal (default cluster)
${CLIP_SEARCH_HELP}
                        (the first N tokens of each layer are kept for the clip search while
                        the file streams; its cost grows with N^2 x queryHeads x headDim)
      --seed N          k-means seed (default ${DEFAULT_CALIBRATION_SEED})
      --meta M          scale/zero storage: fp16, fp8e4m3, fp32 (default fp16)
${COMMON_HELP}
SOURCE_DATE_EPOCH (seconds) fixes createdAt, for byte-identical artifacts.
`;

export const CALIBRATE_ACTIVATIONS_OPTIONS = {
  activations: { type: 'string', multiple: true },
  out: { type: 'string', short: 'o' },
  export: { type: 'string' },
  keys: { type: 'string' },
  layers: { type: 'string' },
  'query-heads': { type: 'string' },
  'kv-heads': { type: 'string' },
  'head-dim': { type: 'string' },
  'rope-style': { type: 'string' },
  'rope-theta': { type: 'string' },
  'model-name': { type: 'string' },
  fingerprint: { type: 'string' },
  bits: { type: 'string' },
  'group-size': { type: 'string' },
  grouping: { type: 'string' },
  ...CLIP_SEARCH_OPTIONS,
  seed: { type: 'string' },
  meta: { type: 'string' },
} as const;

/** True when `calibrate` was asked to read captured activations instead of a model. */
export function wantsActivations(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--activations' || a.startsWith('--activations='));
}

function overridesFrom(values: Record<string, unknown>, cmd: string): ActivationOverrides {
  const v = values as Parameters<typeof stringOption>[0];
  const int = (name: string) =>
    stringOption(v, name) === undefined ? undefined : intOption(v, name, 0, cmd, 1);
  const out: ActivationOverrides = {};
  const set = <K extends keyof ActivationOverrides>(
    k: K,
    x: ActivationOverrides[K] | undefined,
  ) => {
    if (x !== undefined) out[k] = x;
  };
  set('layers', int('layers'));
  set('queryHeads', int('query-heads'));
  set('kvHeads', int('kv-heads'));
  set('headDim', int('head-dim'));
  if (stringOption(v, 'rope-style') !== undefined) {
    set(
      'ropeStyle',
      choiceOption<RopeStyle>(v, 'rope-style', ['pairwise', 'half', 'none'], 'none', cmd),
    );
  }
  const theta = stringOption(v, 'rope-theta');
  if (theta !== undefined) {
    const x = Number(theta);
    if (!(x > 0 && Number.isFinite(x)))
      throw new UsageError(`--rope-theta ${theta} must be a positive number`, cmd);
    out.ropeTheta = x;
  }
  if (stringOption(v, 'keys') !== undefined) {
    set('keys', choiceOption<KeysState>(v, 'keys', KEYS_STATES, 'pre-rope', cmd));
  }
  set('modelName', stringOption(v, 'model-name'));
  set('fingerprint', stringOption(v, 'fingerprint'));
  return out;
}

export async function calibrateActivationsCommand(
  ctx: CommandContext,
  argv: readonly string[],
): Promise<number> {
  const cmd = 'calibrate';
  const { values } = parseCommandArgs(cmd, argv, CALIBRATE_ACTIVATIONS_OPTIONS);
  if (values.help) {
    ctx.io.stdout(calibrateActivationsHelp());
    return 0;
  }
  const out = stringOption(values, 'out');
  if (!out)
    throw new UsageError('--out FILE is required (where the calibration artifact is written)', cmd);
  const paths = (values.activations as string[] | undefined) ?? [];
  const bits = parseKvBits(stringOption(values, 'bits') ?? 'K2V1.5', cmd);
  const groupSize = intOption(values, 'group-size', DEFAULT_GROUP_SIZE, cmd, 1);
  const grouping = choiceOption(values, 'grouping', ['cluster', 'equal'] as const, 'cluster', cmd);
  const seed = intOption(values, 'seed', DEFAULT_CALIBRATION_SEED, cmd, 0);
  // the same objective, grid and sample size as calibrating the model directly
  const { settings: clipSearch } = clipSearchSettings(values, cmd);
  const meta = metaOption(values, cmd);
  const exportFormats = exportFormatsOption(stringOption(values, 'export'), cmd);
  const createdAt = artifactTime(ctx.io.env, cmd);
  const log = logger(ctx.io, values);

  // Headers only: geometry, names, shapes, dtypes and token counts are all checked before
  // one element is read, and nothing is written until the artifact is complete.
  const plan = openActivations(paths, overridesFrom(values, cmd), ctx.io.cwd);
  const g = plan.geometry;
  log(
    `capture: ${plan.tokens} tokens x ${g.layers} layers, ${g.kvHeads} KV heads x ${g.headDim}, ${g.queryHeads} query heads, RoPE ${g.rope.style}${g.rope.style === 'none' ? '' : ` theta ${g.rope.theta}`}; keys ${plan.keys}${plan.keys === 'post-rope' ? ' (rotated back to pre-RoPE)' : ''}; queries ${plan.hasQueries ? 'captured' : 'absent: keys stand in for them in the clip search'}`,
  );
  if (plan.ignored.length > 0)
    log(`ignored tensors outside the naming scheme: ${plan.ignored.join(', ')}`);
  const progress = createProgress(ctx.io, 'read', values.quiet === true || values.json === true);
  const calibrator = ctx.registry.get('calibrator', 'reorder');
  const raw = await calibrateFromActivations(plan, {
    calibrator,
    bits,
    meta,
    groupSize,
    grouping,
    ...(clipSearch.alphaGrid ? { alphaGrid: clipSearch.alphaGrid } : {}),
    seed,
    extra: {
      ...(clipSearch.objective ? { objective: clipSearch.objective } : {}),
      ...(clipSearch.sampleTokens ? { sampleTokens: clipSearch.sampleTokens } : {}),
    },
    onRead: (p) => progress.update(p.done, p.total, `tokens (layer ${p.layer})`),
  });
  progress.done(`${plan.tokens} tokens per layer`);
  const outPath = resolve(ctx.io.cwd, out);
  const { artifact, exports } = writeCalibrationFiles(outPath, raw, {
    createdAt,
    exports: exportFormats,
  });
  if (values.json) {
    ctx.io.stdout(
      `${JSON.stringify({ out: outPath, exports, tokens: plan.tokens, geometry: g, keys: plan.keys, queries: plan.hasQueries, groups: groupsPerLayer(artifact), alphas: artifact.layers.map((l) => ({ k: l.k.alpha, v: l.v.alpha })) }, null, 1)}\n`,
    );
    return 0;
  }
  ctx.io.stdout(
    `calibrated ${artifact.model.name} from ${plan.tokens} captured tokens at K${bits.k}V${bits.v}, group size ${groupSize} (${grouping}), meta ${meta}\n`,
  );
  ctx.io.stdout(describeArtifact(artifact));
  ctx.io.stdout(`wrote ${outPath}\n`);
  for (const e of exports) ctx.io.stdout(`wrote ${e}\n`);
  return 0;
}
