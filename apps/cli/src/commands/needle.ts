import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KvGeometry } from '@skvq/core';
import { LLAMA2_7B_LAYER } from '@skvq/core';
import { intOption, metaOption, parseCommandArgs, stringOption } from '../args.js';
import { COMMON_HELP, type CommandContext, logger } from '../context.js';
import { UsageError } from '../errors.js';
import { parseMethods } from '../methods.js';
import { needleCalibrations } from '../needle/calibrate.js';
import { gridNumerics } from '../needle/grid-numerics.js';
import { needleHeatmapSvg } from '../needle/heatmap.js';
import { planNeedles } from '../needle/plan.js';
import { type ContextResult, runContext } from '../needle/run.js';
import {
  gridTable,
  heatCells,
  needleCsv,
  needleSummary,
  numericsTable,
} from '../needle/summary.js';
import { svgToPng } from '../png.js';
import { createProgress } from '../progress.js';

export const NEEDLE_METHODS = 'fp16,rtn-k2v2,kivi-k2v2,skvq-k2v2,skvq-k2v1.5';
const DEFAULT_CONTEXTS = '4k,32k,128k,1M';
const DEFAULT_DEPTHS = '0,20,40,60,80,100';
const DEFAULT_MARGINS = '0.25,1,16';

export const NEEDLE_HELP = `skvq needle: does a planted key still win attention after quantization?

Usage: skvq needle [options]

One Llama-2-7B layer (32 KV heads x 128, RoPE) of synthetic haystack keys/values (outlier
channels, per-channel scales), with one needle per (depth, margin) cell: a key whose logit
against its own query is exactly MARGIN above the best of all other positions (fp32), and a
distinctive value. Each method's cache is filled once per context (the real append path),
each cell read with its own query (the real fused decode kernel). Measures: (a) needle on
top of its head's attention, (b) its attention share, (c) output error vs float64 on fp32.

Options:
      --methods LIST    default ${NEEDLE_METHODS}
      --contexts LIST   tokens, k = 1024, M = 2^20 (default ${DEFAULT_CONTEXTS})
      --heads LIST      KV heads per context, one value or one per context (default 32)
      --depths LIST     needle depths in percent (default ${DEFAULT_DEPTHS})
      --margins LIST    logit margins above the haystack's best (default ${DEFAULT_MARGINS})
      --window N        full-precision recent tokens (default 128)
      --sinks N         attention sinks (default 5)
      --group-size N    channels per group (default 128)
      --meta M          fp16, fp8e4m3, fp32 (default fp16)
      --seed N          haystack seed (default 1)
      --calib-tokens N  SKVQ calibration tokens, haystack-like, no needles (default 512)
      --kernel-cells N  cells read through the fp16/fp32 kernel to check it against the
                        float64 stream their measures come from (default 3)
      --grid-check      instead of the sweep: kernel accuracy on tokens drawn on the
                        2-bit/ternary grid (exact after RTN quantization) vs float64 and
                        vs the dense fp32 kernel, per context (writes numerics.json)
      --render DIR      run nothing: rewrite DIR's CSV, summary and heat map from its
                        needle.json (e.g. after merging runs)
  -o, --out DIR         write needle.json, needle.csv, summary.txt, heatmap.svg/png
${COMMON_HELP}
`;

export const NEEDLE_OPTIONS = {
  methods: { type: 'string' },
  contexts: { type: 'string' },
  heads: { type: 'string' },
  depths: { type: 'string' },
  margins: { type: 'string' },
  window: { type: 'string' },
  sinks: { type: 'string' },
  'group-size': { type: 'string' },
  meta: { type: 'string' },
  seed: { type: 'string' },
  'calib-tokens': { type: 'string' },
  'kernel-cells': { type: 'string' },
  'grid-check': { type: 'boolean' },
  render: { type: 'string' },
  out: { type: 'string', short: 'o' },
} as const;

/** A comma-separated list of numbers, each checked by `ok` (named in the error). */
export function numberList(
  raw: string,
  name: string,
  ok: (x: number) => boolean,
  allowed: string,
  parse: (s: string) => number = Number,
): number[] {
  const items = raw.split(',').map((s) => s.trim());
  const values = items.map(parse);
  values.forEach((x, i) => {
    if (items[i] === '' || !Number.isFinite(x) || !ok(x)) {
      throw new UsageError(
        `--${name} entry "${items[i]}" is not valid; expected ${allowed}`,
        'needle',
      );
    }
  });
  return values;
}

/** "4k" = 4096, "1M" = 1048576, else a plain integer. */
export function parseTokens(s: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(s);
  if (!m) return Number.NaN;
  const unit = m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1024 : 1 << 20;
  return Number(m[1]) * unit;
}

export async function needleCommand(ctx: CommandContext, argv: readonly string[]): Promise<number> {
  const cmd = 'needle';
  const { values } = parseCommandArgs(cmd, argv, NEEDLE_OPTIONS);
  if (values.help) {
    ctx.io.stdout(NEEDLE_HELP);
    return 0;
  }
  const methods = parseMethods(stringOption(values, 'methods') ?? NEEDLE_METHODS, cmd);
  const contexts = numberList(
    stringOption(values, 'contexts') ?? DEFAULT_CONTEXTS,
    'contexts',
    (x) => Number.isSafeInteger(x) && x >= 256,
    'token counts >= 256 such as 4096, 32k, 1M',
    parseTokens,
  );
  const headList = numberList(
    stringOption(values, 'heads') ?? '32',
    'heads',
    (x) => Number.isInteger(x) && x >= 1 && x <= LLAMA2_7B_LAYER.kvHeads,
    `integers in 1..${LLAMA2_7B_LAYER.kvHeads}`,
  );
  if (headList.length !== 1 && headList.length !== contexts.length) {
    throw new UsageError(
      `--heads has ${headList.length} entries; give one, or one per context (${contexts.length})`,
      cmd,
    );
  }
  const depths = numberList(
    stringOption(values, 'depths') ?? DEFAULT_DEPTHS,
    'depths',
    (x) => x >= 0 && x <= 100,
    'percentages in 0..100',
  ).map((d) => d / 100);
  const margins = numberList(
    stringOption(values, 'margins') ?? DEFAULT_MARGINS,
    'margins',
    (x) => x > 0,
    'positive logit margins',
  );
  const window = intOption(values, 'window', 128, cmd);
  const sinks = intOption(values, 'sinks', 5, cmd);
  const groupSize = intOption(values, 'group-size', 128, cmd, 1);
  const meta = metaOption(values, cmd);
  const seed = intOption(values, 'seed', 1, cmd);
  const calibTokens = intOption(values, 'calib-tokens', 512, cmd, 16, 4096);
  const kernelCells = intOption(values, 'kernel-cells', 3, cmd, 1);
  const structureSeed = 1;
  const log = logger(ctx.io, values);
  const silent = values.quiet === true || values.json === true;
  const backend = await ctx.registry.resolveBackend();
  const calibrate = needleCalibrations({
    registry: ctx.registry,
    structureSeed,
    seed: seed + 7777,
    tokens: calibTokens,
    groupSize,
    meta,
    log,
  });
  const out = stringOption(values, 'out');
  const dir = out ? resolve(ctx.io.cwd, out) : null;
  const render = stringOption(values, 'render');
  if (render !== undefined) {
    const from = resolve(ctx.io.cwd, render);
    const stored = readStored(join(from, 'needle.json'));
    await writeNeedleFiles(from, stored.results, { command: '', started: '' });
    ctx.io.stdout(`${needleSummary(stored.results)}\n${numericsTable(stored.results)}`);
    return 0;
  }
  if (values['grid-check'] === true) {
    const rows = [];
    for (const [ci, tokens] of contexts.entries()) {
      const kvHeads = headList.length === 1 ? headList[0]! : headList[ci]!;
      const geometry: KvGeometry = { ...LLAMA2_7B_LAYER, kvHeads, queryHeads: kvHeads };
      const progress = createProgress(ctx.io, `grid ${tokens}`, silent);
      rows.push(
        await gridNumerics(ctx.registry, backend, geometry, tokens, seed, (d, t) =>
          progress.update(d, t),
        ),
      );
      progress.done();
    }
    const table = gridTable(rows);
    if (dir) {
      mkdirSync(dir, { recursive: true });
      const command = `skvq needle ${argv.join(' ')}`;
      writeFileSync(join(dir, 'numerics.json'), `${JSON.stringify({ command, rows }, null, 1)}\n`);
      writeFileSync(join(dir, 'numerics.txt'), `${command}\n\n${table}`);
    }
    ctx.io.stdout(values.json ? `${JSON.stringify({ rows }, null, 1)}\n` : table);
    return 0;
  }
  const results: ContextResult[] = [];
  const started = new Date().toISOString();
  for (const [ci, tokens] of contexts.entries()) {
    const kvHeads = headList.length === 1 ? headList[0]! : headList[ci]!;
    const geometry: KvGeometry = { ...LLAMA2_7B_LAYER, kvHeads, queryHeads: kvHeads };
    const progress = createProgress(ctx.io, `needle ${tokens}`, silent);
    const plan = planNeedles({
      geometry,
      tokens,
      depths,
      margins,
      window,
      sinks,
      seed,
      structureSeed,
      onChunk: (d, t) => progress.update(d, t, 'margin pre-pass'),
    });
    const result = await runContext(plan, {
      registry: ctx.registry,
      backend,
      methods,
      window,
      sinks,
      groupSize,
      meta,
      kernelCells,
      calibration: (spec) => calibrate(geometry, spec),
      progress: (stage, d, t) => progress.update(d, t, stage),
    });
    progress.done(`${kvHeads} heads, fill ${result.seconds.fill.toFixed(0)} s`);
    results.push(result);
    for (const m of result.methods) {
      const kept = m.cells.filter((c) => c.top).length;
      log(
        `${tokens} ${m.method}: top ${kept}/${m.cells.length}, attend ${m.seconds.attend.toFixed(1)} s`,
      );
    }
    if (dir)
      await writeNeedleFiles(dir, results, { command: `skvq needle ${argv.join(' ')}`, started });
  }
  const summary = `${needleSummary(results)}\nkernel vs float64 (full-precision methods):\n${numericsTable(results)}`;
  if (values.json) ctx.io.stdout(`${JSON.stringify({ results }, null, 1)}\n`);
  else ctx.io.stdout(summary);
  return 0;
}

/**
 * Writes the results, merged with those of other runs already in `dir/needle.json` (other
 * context lengths, e.g. the 1M run made by a separate process): a context run here
 * replaces the stored one.
 */
async function writeNeedleFiles(
  dir: string,
  current: readonly ContextResult[],
  meta: { command: string; started: string },
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'needle.json');
  let results = [...current];
  let commands = meta.command ? [meta.command] : [];
  if (existsSync(file)) {
    const old = readStored(file);
    const mine = new Set(current.map((r) => r.tokens));
    results = [...old.results.filter((r) => !mine.has(r.tokens)), ...current];
    commands = [...new Set([...old.commands, ...commands])];
  }
  results.sort((a, b) => a.tokens - b.tokens);
  const json = { commands, written: new Date().toISOString(), results };
  writeFileSync(file, `${JSON.stringify(json, null, 1)}\n`);
  writeFileSync(join(dir, 'needle.csv'), needleCsv(results));
  writeFileSync(
    join(dir, 'summary.txt'),
    `${commands.join('\n')}\n\n${needleSummary(results)}\nkernel vs float64 (full-precision methods):\n${numericsTable(results)}`,
  );
  const svg = needleHeatmapSvg(
    heatCells(results),
    'Needle retrieval at the attention level (Llama-2-7B layer)',
  );
  writeFileSync(join(dir, 'heatmap.svg'), svg);
  writeFileSync(join(dir, 'heatmap.png'), await svgToPng(svg));
}

/** A needle.json written by this command. */
function readStored(file: string): { commands: string[]; results: ContextResult[] } {
  if (!existsSync(file)) {
    throw new UsageError(
      `${file} does not exist; --render needs a directory written by skvq needle -o`,
      'needle',
    );
  }
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    commands?: string[];
    results?: ContextResult[];
  };
  return { commands: json.commands ?? [], results: json.results ?? [] };
}
