// `skvq calibrate --runtime transformers --model DIR`: the calibration of a transformers.js
// model folder (config.json, onnx/model.onnx, tokenizer.json), captured from its
// present.* outputs by @skvq/adapter-transformers. Same artifact and options as the
// llama2.c runtime, except --tokenizer/--backend (the folder has its tokenizer; the ONNX
// session runs on onnxruntime-node).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fingerprintFile } from '@skvq/adapter-llama';
import { serializeCalibration } from '@skvq/core';
import {
  choiceOption,
  intOption,
  metaOption,
  type ParsedValues,
  parseAlphaGrid,
  parseKvBits,
  stringOption,
} from '../args.js';
import { DEFAULT_CALIBRATION_SEED, DEFAULT_CALIBRATION_TOKENS } from '../calibration-run.js';
import { type CommandContext, logger } from '../context.js';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';
import { CALIBRATION_STORIES, readStories, resolveText } from '../text.js';
import { DEFAULT_GROUP_SIZE, describeArtifact } from './calibrate.js';

/** The ONNX file transformers.js loads for dtype fp32, fingerprinted into the artifact. */
const ONNX_FILE = join('onnx', 'model.onnx');

export async function calibrateTransformersCommand(
  ctx: CommandContext,
  values: ParsedValues,
): Promise<number> {
  const cmd = 'calibrate';
  for (const flag of ['tokenizer', 'backend'] as const) {
    if (stringOption(values, flag) !== undefined) {
      throw new UsageError(
        `--${flag} applies to the llama2c runtime; a transformers model folder brings its own`,
        cmd,
      );
    }
  }
  const modelArg = stringOption(values, 'model');
  if (!modelArg) {
    throw new UsageError(
      '--runtime transformers needs --model DIR (a transformers.js model folder)',
      cmd,
    );
  }
  const dir = resolve(ctx.io.cwd, modelArg);
  if (!existsSync(join(dir, 'config.json')) || !existsSync(join(dir, ONNX_FILE))) {
    throw new UsageError(
      `${dir} is not a transformers.js model folder: expected config.json and ${ONNX_FILE}`,
      cmd,
    );
  }
  const out = stringOption(values, 'out');
  if (!out)
    throw new UsageError('--out FILE is required (where the calibration artifact is written)', cmd);
  const bits = parseKvBits(stringOption(values, 'bits') ?? 'K2V1.5', cmd);
  const groupSize = intOption(values, 'group-size', DEFAULT_GROUP_SIZE, cmd, 1);
  const grouping = choiceOption(values, 'grouping', ['cluster', 'equal'] as const, 'cluster', cmd);
  const alphaRaw = stringOption(values, 'alpha-grid');
  const alphaGrid = alphaRaw ? parseAlphaGrid(alphaRaw, cmd) : undefined;
  const tokens = intOption(values, 'tokens', DEFAULT_CALIBRATION_TOKENS, cmd, 1);
  const seed = intOption(values, 'seed', DEFAULT_CALIBRATION_SEED, cmd, 0);
  const meta = metaOption(values, cmd);
  const log = logger(ctx.io, values);
  const textPath = resolveText(stringOption(values, 'text'), ctx.io.env, ctx.io.cwd);

  // loaded on use only: onnxruntime-node is heavy and no other command needs it
  const { AutoModelForCausalLM, AutoTokenizer, env } = await import('@huggingface/transformers');
  const { calibrateTransformersModel } = await import('@skvq/adapter-transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = dirname(dir);
  const id = basename(dir);
  const model = await AutoModelForCausalLM.from_pretrained(id, { dtype: 'fp32' });
  const tokenizer = await AutoTokenizer.from_pretrained(id);
  log(`model ${dir} (transformers.js, onnxruntime-node)`);

  const stories = readStories(textPath);
  const calibStories = stories.slice(Math.max(0, stories.length - CALIBRATION_STORIES));
  const sequences = calibStories.map((s) =>
    Array.from(tokenizer(s).input_ids.data as BigInt64Array, Number),
  );
  const silent = values.quiet === true || values.json === true;
  const progress = createProgress(ctx.io, 'calibrate', silent);
  const artifact = await calibrateTransformersModel(model, sequences, {
    model: { name: id, fingerprint: await fingerprintFile(join(dir, ONNX_FILE)) },
    bits,
    meta,
    groupSize,
    grouping,
    ...(alphaGrid ? { alphaGrid } : {}),
    seed,
    maxTokens: tokens,
    source: `${textPath} (last ${calibStories.length} stories)`,
    onProgress: (p) => progress.update(p.done, p.total, p.stage),
  });
  progress.done(`${artifact.data.tokens} tokens`);
  const outPath = resolve(ctx.io.cwd, out);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, serializeCalibration(artifact));
  if (values.json) {
    const summary = {
      out: outPath,
      runtime: 'transformers',
      tokens: artifact.data.tokens,
      alphas: artifact.layers.map((l) => ({ k: l.k.alpha, v: l.v.alpha })),
    };
    ctx.io.stdout(`${JSON.stringify(summary, null, 1)}\n`);
    return 0;
  }
  ctx.io.stdout(
    `calibrated ${id} (transformers.js, post-RoPE keys, keys as proxy queries) at K${bits.k}V${bits.v}, group size ${groupSize} (${grouping}), meta ${meta}, on ${artifact.data.tokens} tokens\n`,
  );
  ctx.io.stdout(describeArtifact(artifact));
  ctx.io.stdout(`wrote ${outPath}\n`);
  return 0;
}
