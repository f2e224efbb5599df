import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { convertToGguf } from '@skvq/adapter-llama';
import { SkvqError } from '@skvq/core';
import { intOption, parseCommandArgs, stringOption } from '../args.js';
import {
  COMMON_HELP,
  type CommandContext,
  logger,
  MODEL_HELP,
  MODEL_OPTIONS,
  openModel,
} from '../context.js';
import { UsageError } from '../errors.js';
import { fmt, renderTable } from '../table.js';
import { readStories, resolveText } from '../text.js';

/**
 * Storage bits per element of llama.cpp's KV cache types (ggml block layouts): f16/bf16
 * 2 bytes; q8_0 34 bytes per 32 elements; q4_0 18 bytes per 32 elements.
 */
export const GGML_KV_BITS: Record<string, number> = { F16: 16, BF16: 16, Q8_0: 8.5, Q4_0: 4.5 };

/** Cache configurations cross-checked: types of K and V, and whether flash attention is on. */
const CONFIGS: Array<{ name: string; k: string; v: string; flash: boolean }> = [
  { name: 'f16', k: 'F16', v: 'F16', flash: false },
  { name: 'bf16', k: 'BF16', v: 'BF16', flash: false },
  { name: 'q8_0 (flash attention)', k: 'Q8_0', v: 'Q8_0', flash: true },
  { name: 'q4_0 (flash attention)', k: 'Q4_0', v: 'Q4_0', flash: true },
  { name: 'q8_0 K, f16 V, no flash attention', k: 'Q8_0', v: 'F16', flash: false },
  { name: 'q4_0 K, f16 V, no flash attention', k: 'Q4_0', v: 'F16', flash: false },
  { name: 'f16 K, q8_0 V, no flash attention', k: 'F16', v: 'Q8_0', flash: false },
];

export const LLAMACPP_HELP = `skvq llamacpp: the same model and token ids through llama.cpp (node-llama-cpp)

Usage: skvq llamacpp [--stories N] [--out DIR]

Converts the model to GGUF (F32 weights, @skvq/adapter-llama's converter), loads it with
node-llama-cpp (CPU build) and measures perplexity on the same token ids as skvq eval with
llama.cpp's KV cache types f16, bf16, q8_0 and q4_0 (with and without flash attention),
recording what each configuration does (works, refuses, misbehaves). Needs the optional
node-llama-cpp package (a devDependency here).

Options:
${MODEL_HELP}
      --text FILE       text (default: tinystories-valid-head.txt beside the models)
      --stories N       first N stories (default 20)
      --only LIST       only these configurations, e.g. f16,bf16 (default: all)
  -o, --out DIR         write llamacpp.json
${COMMON_HELP}
`;

export const LLAMACPP_OPTIONS = {
  ...MODEL_OPTIONS,
  text: { type: 'string' },
  stories: { type: 'string' },
  only: { type: 'string' },
  out: { type: 'string', short: 'o' },
} as const;

/** Longest wait for node-llama-cpp to release the model before the results are written. */
const DISPOSE_TIMEOUT_MS = 5_000;

/** A cache type whose perplexity exceeds f16's by this factor is reported as misbehaving. */
const MISBEHAVING_RATIO = 1.5;

interface PeerRow {
  config: string;
  keyType: string;
  valueType: string;
  flashAttention: boolean;
  bitsPerElement: number;
  status: string;
  ppl?: number;
  tokens?: number;
}

export async function llamacppCommand(
  ctx: CommandContext,
  argv: readonly string[],
): Promise<number> {
  const cmd = 'llamacpp';
  const { values } = parseCommandArgs(cmd, argv, LLAMACPP_OPTIONS);
  if (values.help) {
    ctx.io.stdout(LLAMACPP_HELP);
    return 0;
  }
  const storiesN = intOption(values, 'stories', 20, cmd, 1);
  const onlyRaw = stringOption(values, 'only');
  const only = onlyRaw?.split(',').map((s) => s.trim());
  const configs = only ? CONFIGS.filter((c) => only.includes(c.name)) : CONFIGS;
  if (configs.length === 0) {
    throw new UsageError(
      `--only ${onlyRaw} names no configuration; expected some of ${CONFIGS.map((c) => c.name).join(', ')}`,
      cmd,
    );
  }
  const log = logger(ctx.io, values);
  let lib: typeof import('node-llama-cpp');
  try {
    lib = await import('node-llama-cpp');
  } catch (error) {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `node-llama-cpp is not available here (${(error as Error).message}); install it to run the llama.cpp cross-check`,
    );
  }
  const { model } = await openModel(ctx, values, log);
  if (!model.tokenizer)
    throw new SkvqError('INVALID_ARGUMENT', 'the llama.cpp cross-check needs the tokenizer');
  const stories = readStories(
    resolveText(stringOption(values, 'text'), ctx.io.env, ctx.io.cwd),
  ).slice(0, storiesN);
  const ids = stories.map((s) => {
    const t = model.tokenizer!.encode(s);
    return Array.from(t.subarray(0, Math.min(t.length, model.config.contextLength)));
  });
  const work = mkdtempSync(join(tmpdir(), 'skvq-llamacpp-'));
  const rows: PeerRow[] = [];
  try {
    const gguf = join(work, 'model.gguf');
    writeFileSync(gguf, convertToGguf(model, model.tokenizer, { type: 'F32' }).bytes);
    const llama = await lib.getLlama({
      gpu: false,
      build: 'never',
      logLevel: lib.LlamaLogLevel.error,
    });
    const lm = await llama.loadModel({ modelPath: gguf });
    for (const c of configs) {
      const row: PeerRow = {
        config: c.name,
        keyType: c.k,
        valueType: c.v,
        flashAttention: c.flash,
        bitsPerElement: (GGML_KV_BITS[c.k]! + GGML_KV_BITS[c.v]!) / 2,
        status: '',
      };
      rows.push(row);
      let context: Awaited<ReturnType<typeof lm.createContext>> | undefined;
      try {
        context = await lm.createContext({
          contextSize: model.config.contextLength,
          batchSize: model.config.contextLength,
          flashAttention: c.flash,
          experimentalKvCacheKeyType: c.k as 'F16',
          experimentalKvCacheValueType: c.v as 'F16',
        });
      } catch (error) {
        row.status = `refused: ${(error as Error).message.split('\n')[0]}`;
        log(`${c.name}: ${row.status}`);
        continue;
      }
      try {
        const seq = context.getSequence();
        let nll = 0;
        let count = 0;
        for (const story of ids) {
          if (story.length < 2) continue;
          await seq.clearHistory();
          const input = story
            .slice(0, -1)
            .map(
              (t) =>
                [t, { generateNext: { probabilities: true } }] as [
                  number,
                  { generateNext: { probabilities: boolean } },
                ],
            );
          const out = await seq.controlledEvaluate(input as never);
          for (let i = 0; i < story.length - 1; i++) {
            const p = out[i]?.next?.probabilities?.get(story[i + 1] as never) ?? 0;
            nll -= Math.log(Math.max(p, 1e-30));
            count++;
          }
        }
        row.ppl = Math.exp(nll / count);
        row.tokens = count;
        row.status = Number.isFinite(row.ppl) ? 'ok' : 'non-finite perplexity';
      } catch (error) {
        row.status = `failed while evaluating: ${(error as Error).message.split('\n')[0]}`;
      } finally {
        await context.dispose();
      }
      log(`${c.name}: ${row.status}${row.ppl !== undefined ? ` ppl ${row.ppl.toFixed(4)}` : ''}`);
    }
    // node-llama-cpp's dispose can leave a promise that never settles after a refused
    // context; bound it so the results below are always written
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      (async () => {
        await lm.dispose();
        await llama.dispose();
      })(),
      new Promise((r) => {
        timer = setTimeout(r, DISPOSE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  // A quantized cache that "works" but is far off f16 misbehaves silently: say so.
  const f16 = rows.find((r) => r.config === 'f16')?.ppl;
  for (const r of rows) {
    if (
      r.status === 'ok' &&
      f16 !== undefined &&
      r.ppl !== undefined &&
      r.ppl > MISBEHAVING_RATIO * f16
    ) {
      r.status = `misbehaves: no error, perplexity ${(r.ppl / f16).toFixed(1)}x that of f16`;
    }
  }
  const out = stringOption(values, 'out');
  if (out) {
    const dir = resolve(ctx.io.cwd, out);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'llamacpp.json'),
      `${JSON.stringify({ command: `skvq llamacpp ${argv.join(' ')}`, stories: ids.length, version: 'node-llama-cpp 3.21.1', rows }, null, 1)}\n`,
    );
  }
  if (values.json) ctx.io.stdout(`${JSON.stringify({ rows }, null, 1)}\n`);
  else
    ctx.io.stdout(
      renderTable(
        ['llama.cpp KV cache', 'bits/elem', 'ppl', 'status'],
        rows.map((r) => [
          r.config,
          fmt(r.bitsPerElement, 2),
          r.ppl === undefined ? 'n/a' : fmt(r.ppl, 4),
          r.status,
        ]),
      ),
    );
  return 0;
}
