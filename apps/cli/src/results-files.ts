import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BYTE_PARTS, type MethodResult } from './evaluate.js';
import { type ScatterPoint, scatterSvg, stackedBarsSvg } from './plots.js';
import { svgToPng } from './png.js';
import { fmt, fmtSigned, renderCsv, renderTable } from './table.js';

/** Short label of a row's configuration: window/sinks/group. */
export function configLabel(r: MethodResult): string {
  return `w${r.window} s${r.sinks} g${r.groupSize}${r.meta === 'fp16' ? '' : ` ${r.meta}`}`;
}

function mean(values: readonly number[]): number {
  return values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}

export function resultsTable(rows: readonly MethodResult[]): string {
  return renderTable(
    [
      'method',
      'config',
      'ppl',
      'delta',
      'codes+meta bits',
      'overhead bits',
      'avg bits',
      'alloc bits',
      'bits@longest',
      'bytes/token',
      'attn err',
    ],
    rows.map((r) => [
      r.method,
      r.method.startsWith('fp') ? '-' : configLabel(r),
      fmt(r.ppl, 4),
      `${fmtSigned(r.deltaPct, 2)}%`,
      fmt(r.codesMetaBits, 3),
      fmt(r.overheadBits, 3),
      fmt(r.avgBits, 3),
      fmt(r.avgBitsAllocated, 3),
      fmt(r.bitsAtLongest, 3),
      fmt(r.bytesPerToken, 1),
      fmt(mean(r.attentionError), 4),
    ]),
  );
}

export function resultsCsv(rows: readonly MethodResult[]): string {
  const layers = Math.max(0, ...rows.map((r) => r.attentionError.length));
  const headers = [
    'method',
    'protocol',
    'prompt_tokens',
    'window',
    'sinks',
    'group_size',
    'meta',
    'ppl',
    'mean_nll',
    'delta_pct',
    'codes_meta_bits',
    'overhead_bits',
    'overhead_bytes_per_story',
    'avg_bits',
    'avg_bits_allocated',
    'bits_at_longest',
    'longest_tokens',
    'bytes_per_token',
    ...BYTE_PARTS.map((p) => `bytes_per_token_${p}`),
    ...Array.from({ length: layers }, (_, l) => `attn_err_layer${l}`),
    'stories',
    'tokens',
    'seconds',
    'cpu_seconds',
  ];
  return renderCsv(
    headers,
    rows.map((r) => [
      r.method,
      r.protocol,
      r.promptTokens === undefined ? '' : (r.promptTokens ?? 'half'),
      r.window,
      r.sinks,
      r.groupSize,
      r.meta,
      r.ppl,
      r.meanNll,
      r.deltaPct,
      r.codesMetaBits,
      r.overheadBits,
      r.overheadBytesPerStory,
      r.avgBits,
      r.avgBitsAllocated,
      r.bitsAtLongest,
      r.longestTokens,
      r.bytesPerToken,
      ...BYTE_PARTS.map((p) => r.breakdownPerToken[p]),
      ...Array.from({ length: layers }, (_, l) => r.attentionError[l] ?? Number.NaN),
      r.stories,
      r.tokens,
      r.seconds,
      r.cpuSeconds,
    ]),
  );
}

function family(method: string): string {
  if (method.startsWith('fp')) return 'fp32/fp16';
  const base = method.split('-')[0]!;
  return base.includes('+') ? 'mixed' : base;
}

export interface WrittenFiles {
  files: string[];
}

/** Writes results.json, results.csv and the two plots (SVG, and PNG unless disabled). */
export async function writeResults(
  dir: string,
  rows: readonly MethodResult[],
  metadata: Record<string, unknown>,
  png: boolean,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, data);
    files.push(path);
  };
  put('results.json', `${JSON.stringify({ ...metadata, rows }, null, 1)}\n`);
  put('results.csv', resultsCsv(rows));
  const points: ScatterPoint[] = rows.map((r) => ({
    label: r.method.startsWith('fp') ? r.method : `${r.method} ${configLabel(r)}`,
    series: family(r.method),
    x: r.codesMetaBits,
    y: r.ppl,
  }));
  const protocol = String(metadata.protocol ?? rows[0]?.protocol ?? 'decode');
  const scatter = scatterSvg(points, {
    title: `Perplexity (${protocol} protocol) vs codes+metadata bits`,
    xLabel: 'codes+metadata bits per quantized element (fixed overhead in results.csv)',
    yLabel: 'perplexity (log scale)',
    logY: true,
  });
  put('ppl-vs-bits.svg', scatter);
  // one bar per method at its first configuration keeps the chart readable
  const seen = new Set<string>();
  const bars = rows
    .filter((r) => {
      if (seen.has(r.method)) return false;
      seen.add(r.method);
      return true;
    })
    .map((r) => ({ label: r.method, parts: { ...r.breakdownPerToken } as Record<string, number> }));
  const barsSvg = stackedBarsSvg(
    bars,
    BYTE_PARTS,
    'Cache bytes per token by method',
    'bytes per token (all layers, K and V)',
  );
  put('bytes-per-token.svg', barsSvg);
  if (png) {
    put('ppl-vs-bits.png', await svgToPng(scatter));
    put('bytes-per-token.png', await svgToPng(barsSvg));
  }
  return files;
}
