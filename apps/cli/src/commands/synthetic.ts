import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type CalibrationArtifact,
  type CalibrationBatch,
  LLAMA2_7B_LAYER,
  type MetaFormat,
} from '@skvq/core';
import { intOption, metaOption, parseCommandArgs, stringOption } from '../args.js';
import { COMMON_HELP, type CommandContext, logger } from '../context.js';
import { needsCalibration, parseMethods } from '../methods.js';
import { scatterSvg } from '../plots.js';
import { svgToPng } from '../png.js';
import { syntheticKv, syntheticPoint } from '../synthetic.js';
import { fmt, renderCsv, renderTable } from '../table.js';

export const SYNTHETIC_METHODS =
  'fp16,rtn-k4v4,kivi-k4v4,skvq-k4v4,rtn-k2v2,kivi-k2v2,skvq-k2v2,rtn-k2v1.5,kivi-k2v1.5,skvq-k2v1.5,rtn-k1.5v1.5,kivi-k1.5v1.5,skvq-k1.5v1.5';
/** Alpha grid of the synthetic calibration (coarser than the default to bound its cost). */
const SYNTHETIC_ALPHA_GRID = [0.8, 0.85, 0.9, 0.95, 1];

export const SYNTHETIC_HELP = `skvq synthetic: the bits/error frontier on synthetic K/V of a Llama-2-7B layer

Usage: skvq synthetic [options]

Synthetic pre-RoPE keys with outlier channels (${'2%'} of channels, 10x) and values, 32 heads of
dimension 128 (kvHidden 4096); SKVQ is calibrated on separate tokens of the same
distribution. For each method: relative attention-output error of a causal prefill against
fp32, and average bits from the cache's real bytes (no window, no sinks by default).

Options:
      --methods LIST    default ${SYNTHETIC_METHODS}
      --tokens N        tokens evaluated (default 512)
      --group-size N    channels per group (default 128, the paper's)
      --meta M          fp16, fp8e4m3, fp32 (default fp16)
      --window N        full-precision recent tokens (default 0)
      --sinks N         attention sinks (default 0)
  -o, --out DIR         write synthetic.json, synthetic.csv, error-vs-bits.svg/png
${COMMON_HELP}
`;

export const SYNTHETIC_OPTIONS = {
  methods: { type: 'string' },
  tokens: { type: 'string' },
  'group-size': { type: 'string' },
  meta: { type: 'string' },
  window: { type: 'string' },
  sinks: { type: 'string' },
  out: { type: 'string', short: 'o' },
} as const;

export async function syntheticCommand(
  ctx: CommandContext,
  argv: readonly string[],
): Promise<number> {
  const cmd = 'synthetic';
  const { values } = parseCommandArgs(cmd, argv, SYNTHETIC_OPTIONS);
  if (values.help) {
    ctx.io.stdout(SYNTHETIC_HELP);
    return 0;
  }
  const methods = parseMethods(stringOption(values, 'methods') ?? SYNTHETIC_METHODS, cmd);
  const tokens = intOption(values, 'tokens', 512, cmd, 2);
  const groupSize = intOption(values, 'group-size', 128, cmd, 1);
  const meta: MetaFormat = metaOption(values, cmd);
  const window = intOption(values, 'window', 0, cmd);
  const sinks = intOption(values, 'sinks', 0, cmd);
  const log = logger(ctx.io, values);
  const backend = await ctx.registry.resolveBackend();
  const geometry = LLAMA2_7B_LAYER;
  const data = syntheticKv(geometry, tokens, 2);
  const calibData = syntheticKv(geometry, Math.min(tokens, 256), 3);
  const calibBatch: CalibrationBatch = {
    layer: 0,
    count: calibData.tokens,
    q: calibData.q,
    k: calibData.k,
    v: calibData.v,
    positions: Int32Array.from({ length: calibData.tokens }, (_, i) => i),
  };
  const calibrations = new Map<string, CalibrationArtifact>();
  const rows: Array<{ method: string; bits: number; error: number }> = [];
  for (const spec of methods) {
    let calibration: CalibrationArtifact | undefined;
    if (needsCalibration(spec) && spec.kind === 'quantized') {
      const key = `${spec.keys.bits}/${spec.values.bits}`;
      calibration = calibrations.get(key);
      if (!calibration) {
        log(
          `calibrating K${spec.keys.bits}V${spec.values.bits} on ${calibData.tokens} synthetic tokens`,
        );
        const session = ctx.registry.get('calibrator', 'reorder').createSession({
          geometry,
          model: { name: 'synthetic-llama2-7b-layer', fingerprint: 'synthetic:1' },
          bits: { k: spec.keys.bits, v: spec.values.bits },
          meta,
          groupSize,
          grouping: 'cluster',
          alphaGrid: SYNTHETIC_ALPHA_GRID,
          seed: 0,
        });
        session.observe(calibBatch);
        calibration = await session.finish();
        calibrations.set(key, calibration);
      }
    }
    const point = await syntheticPoint(ctx.registry, backend, spec, data, {
      groupSize,
      meta,
      window,
      sinks,
      ...(calibration ? { calibration } : {}),
    });
    rows.push({ method: spec.name, ...point });
    log(`${spec.name}: ${point.bits.toFixed(3)} bits, attention error ${point.error.toFixed(4)}`);
  }
  const table = renderTable(
    ['method', 'avg bits', 'attn err'],
    rows.map((r) => [r.method, fmt(r.bits, 3), fmt(r.error, 4)]),
  );
  const out = stringOption(values, 'out');
  if (out) {
    const dir = resolve(ctx.io.cwd, out);
    mkdirSync(dir, { recursive: true });
    const meta0 = {
      command: `skvq synthetic ${argv.join(' ')}`,
      geometry,
      tokens,
      groupSize,
      meta,
      window,
      sinks,
      date: new Date().toISOString(),
    };
    writeFileSync(join(dir, 'synthetic.json'), `${JSON.stringify({ ...meta0, rows }, null, 1)}\n`);
    writeFileSync(
      join(dir, 'synthetic.csv'),
      renderCsv(
        ['method', 'avg_bits', 'attention_error'],
        rows.map((r) => [r.method, r.bits, r.error]),
      ),
    );
    const svg = scatterSvg(
      rows.map((r) => ({
        label: r.method,
        series: r.method.split('-')[0]!,
        x: r.bits,
        y: Math.max(r.error, 1e-6),
      })),
      {
        title: 'Synthetic Llama-2-7B layer: attention error vs bits',
        xLabel: 'average bits per element (real cache bytes)',
        yLabel: 'relative attention-output error (log)',
        logY: true,
        labelAll: true,
      },
    );
    writeFileSync(join(dir, 'error-vs-bits.svg'), svg);
    writeFileSync(join(dir, 'error-vs-bits.png'), await svgToPng(svg));
  }
  if (values.json) ctx.io.stdout(`${JSON.stringify({ rows }, null, 1)}\n`);
  else ctx.io.stdout(table);
  return 0;
}
