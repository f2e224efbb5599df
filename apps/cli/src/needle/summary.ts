import { fmt, renderCsv, renderTable } from '../table.js';
import type { GridNumerics } from './grid-numerics.js';
import { contextLabel, type HeatCell } from './heatmap.js';
import type { ContextResult } from './run.js';

/** Flat CSV: one row per (context, method, cell). */
export function needleCsv(results: readonly ContextResult[]): string {
  const rows: (string | number)[][] = [];
  for (const r of results) {
    for (const m of r.methods) {
      m.cells.forEach((c, i) => {
        const cell = r.cells[i]!;
        rows.push([
          r.tokens,
          r.geometry.kvHeads,
          m.method,
          cell.depth,
          cell.margin,
          cell.position,
          cell.head,
          c.top ? 1 : 0,
          c.share,
          cell.referenceShare,
          c.runnerUp,
          c.error,
          m.avgBits,
          m.codeMetaBits,
        ]);
      });
    }
  }
  return renderCsv(
    [
      'tokens',
      'kv_heads',
      'method',
      'depth',
      'margin',
      'position',
      'head',
      'top',
      'share',
      'fp32_share',
      'runner_up',
      'output_rel_error',
      'avg_bits',
      'code_meta_bits',
    ],
    rows,
  );
}

/** Heat-map squares: per (method, context, depth), how many margins kept the top. */
export function heatCells(results: readonly ContextResult[]): HeatCell[] {
  const out: HeatCell[] = [];
  for (const r of results) {
    for (const m of r.methods) {
      const byDepth = new Map<number, HeatCell>();
      m.cells.forEach((c, i) => {
        const depth = r.cells[i]!.depth;
        const cell = byDepth.get(depth) ?? {
          method: m.method,
          tokens: r.tokens,
          depth,
          kept: 0,
          total: 0,
        };
        cell.kept += c.top ? 1 : 0;
        cell.total += 1;
        byDepth.set(depth, cell);
      });
      out.push(...byDepth.values());
    }
  }
  return out;
}

/**
 * The summary table: per method, cells with the needle on top per context ("kept/total"),
 * its mean share, worst output error, and bits (codes+metadata per quantized element; the
 * all-inclusive average at the largest context).
 */
export function needleSummary(results: readonly ContextResult[]): string {
  const methods = [...new Set(results.flatMap((r) => r.methods.map((m) => m.method)))];
  const last = results[results.length - 1];
  const first = results[0];
  const headers = [
    'method',
    // codes, scales/zeros and the int32 position of each token: the position weighs more
    // per element in contexts run with fewer heads, so the first context's value is shown
    `code+meta bits @${first ? contextLabel(first.tokens) : '-'}`,
    `avg bits @${last ? contextLabel(last.tokens) : '-'}`,
    ...results.map((r) => `top @${contextLabel(r.tokens)}`),
    'worst out err',
  ];
  const rows = methods.map((name) => {
    const per = results.map((r) => r.methods.find((m) => m.method === name));
    const anyM = per[0];
    const lastM = last?.methods.find((m) => m.method === name);
    const worst = Math.max(...per.flatMap((m) => m?.cells.map((c) => c.error) ?? []));
    return [
      name,
      anyM ? fmt(anyM.codeMetaBits, 3) : 'n/a',
      lastM ? fmt(lastM.avgBits, 3) : 'n/a',
      ...per.map((m) => (m ? `${m.cells.filter((c) => c.top).length}/${m.cells.length}` : 'n/a')),
      fmt(worst, 4),
    ];
  });
  return renderTable(headers, rows);
}

/** Worst kernel-vs-float64 error of the full-precision methods, per context. */
export function numericsTable(results: readonly ContextResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    for (const m of r.methods) {
      if (!m.kernelError) continue;
      rows.push([
        contextLabel(r.tokens),
        String(r.geometry.kvHeads),
        m.method,
        m.kernelError.l2.toExponential(2),
        m.kernelError.maxAbsOverMax.toExponential(2),
      ]);
    }
  }
  return renderTable(['context', 'kv heads', 'method', 'rel L2 vs f64', 'max abs / max'], rows);
}

/** The grid check: fused kernel vs float64 and vs the dense fp32 kernel. */
export function gridTable(rows: readonly GridNumerics[]): string {
  const e = (x: { l2: number; max: number }) =>
    `${x.l2.toExponential(2)} / ${x.max.toExponential(2)}`;
  return renderTable(
    [
      'context',
      'kv heads',
      'packed vs f64 (L2 / max)',
      'dense fp32 vs f64',
      'packed vs dense fp32',
    ],
    rows.map((r) => [
      contextLabel(r.tokens),
      String(r.kvHeads),
      e(r.packedVsFloat64),
      e(r.denseVsFloat64),
      e(r.packedVsDense),
    ]),
  );
}
