import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { sniffGguf, sniffLlama2c } from '@skvq/adapter-llama';
import {
  type DenseCache,
  type DenseCacheOptions,
  isSavedCache,
  loadCache,
  type QuantizedCache,
  type QuantizedCacheOptions,
  readCacheHeader,
} from '@skvq/cache';
import { type CalibrationArtifact, parseCalibration, SkvqError } from '@skvq/core';
import { parseCommandArgs, stringOption } from '../args.js';
import { groupsPerLayer } from '../calibration-run.js';
import { COMMON_HELP, type CommandContext, logger } from '../context.js';
import { UsageError } from '../errors.js';
import { loadModel, readHead } from '../model-lookup.js';
import { fmt, renderTable } from '../table.js';
import { describeArtifact } from './calibrate.js';
import { inspectTensors, isTensorPath } from './inspect-tensors.js';

export const INSPECT_HELP = `skvq inspect: describe a model, a calibration artifact or a saved cache

Usage: skvq inspect FILE [--calib FILE] [--tokenizer FILE]

  model (llama2.c .bin, GGUF)  geometry, parameters, fingerprint
  calibration artifact (.json) model, settings, groups per layer, chosen alphas
  calibration export (.safetensors, or a folder of .npy; skvq calibrate --export)
                               permutations, groups (smallest size) and alphas per layer
  activation capture (.safetensors, .npy, folder)  geometry, tokens, keys, queries
  saved cache (skvq generate --save-cache)  kind, streams, tokens per layer, bytes breakdown;
                               a cache quantized with skvq is restored only with --calib

Options:
      --calib FILE      calibration the saved cache was made with (to restore an skvq cache)
      --tokenizer FILE  tokenizer for a llama2.c model (default: tok512.bin beside it)
${COMMON_HELP}
`;

export const INSPECT_OPTIONS = {
  calib: { type: 'string' },
  tokenizer: { type: 'string' },
} as const;

async function inspectCache(
  ctx: CommandContext,
  path: string,
  bytes: Uint8Array,
  calibPath: string | undefined,
) {
  const { version, header } = readCacheHeader(bytes);
  const backend = await ctx.registry.resolveBackend();
  let calibration: CalibrationArtifact | undefined;
  if (calibPath)
    calibration = parseCalibration(readFileSync(resolve(ctx.io.cwd, calibPath), 'utf8'), {
      geometry: header.geometry,
    });
  const usesSkvq =
    header.streams &&
    (header.streams.k.quantizer === 'skvq' || header.streams.v.quantizer === 'skvq');
  if (usesSkvq && !calibration) {
    return {
      kind: header.kind,
      restored: false,
      note: 'quantized with skvq: pass --calib FILE to restore and account it',
      version,
      header,
    };
  }
  let cache: DenseCache | QuantizedCache;
  if (header.kind === 'dense') {
    const options: DenseCacheOptions = {
      geometry: header.geometry,
      precision: header.fpPrecision,
      backend,
      keysPreRope: header.keysPreRope,
    };
    cache = loadCache(bytes, options);
  } else {
    const s = header.streams!;
    const spec = (x: (typeof s)['k']) => ({
      quantizer: ctx.registry.get('quantizer', x.quantizer),
      bits: x.bits as 8,
      meta: x.meta as 'fp16',
      groupSize: x.groupSize,
      ...(x.alpha !== null ? { alpha: x.alpha } : {}),
    });
    const options: QuantizedCacheOptions = {
      geometry: header.geometry,
      backend,
      keys: spec(s.k),
      values: spec(s.v),
      policy: ctx.registry.get('policy', 'sliding-window'),
      window: header.layers[0]?.window ?? 0,
      sinks: header.layers[0]?.sinks ?? 0,
      keysPreRope: header.keysPreRope,
      fpPrecision: header.fpPrecision,
      ...(calibration ? { calibration } : {}),
    };
    cache = loadCache(bytes, options);
  }
  void path;
  return { kind: header.kind, restored: true, version, description: cache.describe() };
}

export async function inspectCommand(
  ctx: CommandContext,
  argv: readonly string[],
): Promise<number> {
  const cmd = 'inspect';
  const { values, positionals } = parseCommandArgs(cmd, argv, INSPECT_OPTIONS, true);
  if (values.help) {
    ctx.io.stdout(INSPECT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('inspect takes exactly one FILE', cmd);
  const path = resolve(ctx.io.cwd, positionals[0]!);
  if (isTensorPath(path)) return inspectTensors(ctx, path, values.json === true);
  const head = readHead(path);
  const out = ctx.io.stdout;
  const json = values.json === true;
  if (isSavedCache(head)) {
    const bytes = new Uint8Array(readFileSync(path));
    const info = await inspectCache(ctx, path, bytes, stringOption(values, 'calib'));
    if (json) {
      out(`${JSON.stringify({ type: 'cache', file: path, ...info }, null, 1)}\n`);
      return 0;
    }
    out(`${path}: saved ${info.kind} KV cache (format version ${info.version})\n`);
    if (!info.restored) {
      out(
        `streams: ${JSON.stringify(info.header?.streams)}\ntokens per layer: ${info.header?.layers.map((l) => l.length).join(', ')}\n${info.note}\n`,
      );
      return 0;
    }
    const d = info.description!;
    if (d.streams)
      out(
        `keys: ${d.streams.k.quantizer} ${d.streams.k.bits} bits (${d.streams.k.layout}), values: ${d.streams.v.quantizer} ${d.streams.v.bits} bits (${d.streams.v.layout}), meta ${d.streams.k.meta}\n`,
      );
    out(
      `keys ${d.keysPreRope ? 'before' : 'after'} RoPE, full-precision tokens stored as ${d.fpPrecision}\n`,
    );
    out(
      renderTable(
        [
          'layer',
          'tokens',
          'sinks',
          'window',
          'quant K',
          'quant V',
          'kept',
          'pending K',
          'pending V',
        ],
        d.layers.map((l) => [
          String(l.layer),
          String(l.tokens),
          String(l.sinks),
          String(l.window),
          String(l.quantized.k),
          String(l.quantized.v),
          String(l.kept),
          String(l.pending.k),
          String(l.pending.v),
        ]),
      ),
    );
    const b = d.bytes;
    out(
      `bytes: codes ${b.codes}, metadata ${b.metadata}, positions ${b.positions}, window ${b.window}, sinks ${b.sinks}, kept ${b.keptFp}, permutations ${b.permutations}, slack ${b.pageSlack}, total ${b.total} = ${fmt(b.bitsPerElement, 3)} bits/element\n`,
    );
    return 0;
  }
  if (head[0] === 0x7b /* '{' */) {
    const artifact = parseCalibration(readFileSync(path, 'utf8'));
    if (json) {
      out(
        `${JSON.stringify({ type: 'calibration', file: path, model: artifact.model, settings: artifact.settings, data: artifact.data, groups: groupsPerLayer(artifact), alphas: artifact.layers.map((l) => ({ k: l.k.alpha, v: l.v.alpha })) }, null, 1)}\n`,
      );
      return 0;
    }
    const s = artifact.settings;
    out(`${path}: SKVQ calibration for ${artifact.model.name} (${artifact.model.fingerprint})\n`);
    out(
      `bits K${artifact.layers[0]?.k.bits}V${artifact.layers[0]?.v.bits}, group size ${s.groupSize} (${s.grouping}), meta ${s.meta}, seed ${s.seed}, ${artifact.data.tokens} tokens of ${artifact.data.source}\n`,
    );
    out(describeArtifact(artifact));
    return 0;
  }
  if (sniffGguf(head) || sniffLlama2c(head)) {
    const tokenizer = stringOption(values, 'tokenizer');
    const log = logger(ctx.io, values);
    const besideTok = resolve(path, '..', 'tok512.bin');
    const { existsSync } = await import('node:fs');
    const model = await loadModel(ctx.registry, {
      modelPath: path,
      tokenizerPath: tokenizer
        ? resolve(ctx.io.cwd, tokenizer)
        : existsSync(besideTok)
          ? besideTok
          : undefined,
      source: 'inspect',
    });
    void log;
    const c = model.config;
    const w = model.weights;
    let params =
      w.tokenEmbedding.length +
      w.finalNorm.length +
      (w.classifier !== w.tokenEmbedding ? w.classifier.length : 0);
    for (const l of w.layers)
      for (const t of [l.attnNorm, l.wq, l.wk, l.wv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3])
        params += t.length;
    const info = {
      type: 'model',
      file: path,
      format: model.format,
      identity: model.identity,
      geometry: model.geometry,
      config: c,
      parameters: params,
      tokenizer: model.tokenizer ? model.tokenizer.vocabSize : null,
    };
    if (json) {
      out(`${JSON.stringify(info, null, 1)}\n`);
      return 0;
    }
    const g = model.geometry;
    out(`${path}: ${model.format} model "${model.identity.name}"\n`);
    out(`fingerprint ${model.identity.fingerprint}\n`);
    out(
      `${params} parameters; dim ${c.dim}, hidden ${c.hiddenDim}, vocab ${c.vocabSize}, context ${c.contextLength}\n`,
    );
    out(
      `KV geometry: ${g.layers} layers, ${g.queryHeads} query heads, ${g.kvHeads} KV heads, head dim ${g.headDim} (kvHidden ${g.kvHeads * g.headDim}), RoPE ${g.rope.style} theta ${g.rope.style === 'none' ? '-' : g.rope.theta}\n`,
    );
    out(`fp16 KV cache: ${2 * 2 * g.layers * g.kvHeads * g.headDim} bytes per token\n`);
    out(
      `tokenizer: ${model.tokenizer ? `${model.tokenizer.vocabSize} tokens` : 'none (pass --tokenizer)'}\n`,
    );
    return 0;
  }
  throw new SkvqError(
    'FILE_BAD_MAGIC',
    `${path} is not a model, a calibration artifact or a saved cache`,
  );
}
