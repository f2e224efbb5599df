/**
 * Small dependency-free SVG charts for the evaluation: perplexity against average bits
 * (one marker per method/configuration and the Pareto frontier, as in the SKVQ paper's
 * figure) and bytes per token by method (stacked by what the bytes hold).
 */

export interface ScatterPoint {
  label: string;
  /** Series (colour): the method family, e.g. skvq, kivi, rtn, fp. */
  series: string;
  x: number;
  y: number;
}

const WIDTH = 760;
const HEIGHT = 480;
const MARGIN = { left: 70, right: 190, top: 40, bottom: 56 };
const PALETTE = [
  '#d62728',
  '#1f77b4',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
];
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    out.push(Number(t.toPrecision(12)));
  return out;
}

/**
 * Points not dominated by another (fewer or equal bits and lower or equal perplexity),
 * sorted by bits: the frontier of the bits/quality trade-off.
 */
export function paretoFrontier<T extends { x: number; y: number }>(points: readonly T[]): T[] {
  const finite = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const sorted = [...finite].sort((a, b) => a.x - b.x || a.y - b.y);
  const out: T[] = [];
  let best = Number.POSITIVE_INFINITY;
  for (const p of sorted) {
    if (p.y < best) {
      out.push(p);
      best = p.y;
    }
  }
  return out;
}

function seriesColours(series: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of series) if (!m.has(s)) m.set(s, PALETTE[m.size % PALETTE.length]!);
  return m;
}

export interface ScatterOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Log-scale y (perplexity spans orders of magnitude when a method collapses). */
  logY?: boolean;
  /** Label every point (small plots) or only the frontier (default). */
  labelAll?: boolean;
}

export function scatterSvg(points: readonly ScatterPoint[], options: ScatterOptions): string {
  const finite = points.filter(
    (p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!options.logY || p.y > 0),
  );
  const fy = (y: number) => (options.logY ? Math.log10(y) : y);
  const xs = finite.map((p) => p.x);
  const ys = finite.map((p) => fy(p.y));
  let x0 = Math.min(0, ...xs);
  let x1 = Math.max(1, ...xs);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (!(y1 > y0)) {
    y0 -= 1;
    y1 += 1;
  }
  const padY = (y1 - y0) * 0.06;
  y0 -= padY;
  y1 += padY;
  x1 += (x1 - x0) * 0.03;
  x0 = Math.max(0, x0);
  const pw = WIDTH - MARGIN.left - MARGIN.right;
  const ph = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => MARGIN.top + ph - ((fy(y) - y0) / (y1 - y0)) * ph;
  const colours = seriesColours(finite.map((p) => p.series));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ${FONT} font-size="12">`,
  );
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  parts.push(
    `<text x="${WIDTH / 2 - MARGIN.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(options.title)}</text>`,
  );
  // axes and grid
  for (const t of ticks(x0, x1)) {
    const x = sx(t);
    parts.push(
      `<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + ph}" stroke="#e6e6e6"/>`,
    );
    parts.push(`<text x="${x}" y="${MARGIN.top + ph + 18}" text-anchor="middle">${t}</text>`);
  }
  const yTicks = options.logY ? ticks(y0, y1).map((t) => 10 ** t) : ticks(y0, y1);
  for (const t of yTicks) {
    const y = sy(t);
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + pw}" y2="${y}" stroke="#e6e6e6"/>`,
    );
    parts.push(
      `<text x="${MARGIN.left - 8}" y="${y + 4}" text-anchor="end">${Number(t.toPrecision(3))}</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
  );
  parts.push(
    `<text x="${MARGIN.left + pw / 2}" y="${HEIGHT - 14}" text-anchor="middle">${esc(options.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(18 ${MARGIN.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`,
  );
  // Pareto frontier
  const front = paretoFrontier(finite);
  if (front.length > 1) {
    const d = front
      .map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
      .join(' ');
    parts.push(
      `<path d="${d}" fill="none" stroke="#333" stroke-width="1.5" stroke-dasharray="5 3"/>`,
    );
  }
  const onFront = new Set(front);
  for (const p of finite) {
    const c = colours.get(p.series)!;
    const r = onFront.has(p) ? 5.5 : 4;
    parts.push(
      `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="${r}" fill="${c}" fill-opacity="0.8" stroke="#000" stroke-width="${onFront.has(p) ? 1.2 : 0.4}"><title>${esc(`${p.label}: ${p.x.toFixed(2)} bits, ${p.y.toFixed(3)}`)}</title></circle>`,
    );
    if (options.labelAll || onFront.has(p)) {
      parts.push(
        `<text x="${(sx(p.x) + 7).toFixed(1)}" y="${(sy(p.y) - 6).toFixed(1)}" font-size="10">${esc(p.label)}</text>`,
      );
    }
  }
  // legend
  let ly = MARGIN.top + 10;
  const lx = WIDTH - MARGIN.right + 16;
  for (const [series, c] of colours) {
    parts.push(
      `<circle cx="${lx}" cy="${ly}" r="5" fill="${c}"/><text x="${lx + 12}" y="${ly + 4}">${esc(series)}</text>`,
    );
    ly += 20;
  }
  parts.push(
    `<line x1="${lx - 6}" y1="${ly}" x2="${lx + 6}" y2="${ly}" stroke="#333" stroke-dasharray="5 3" stroke-width="1.5"/><text x="${lx + 12}" y="${ly + 4}">Pareto frontier</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export interface StackedBar {
  label: string;
  parts: Record<string, number>;
}

/** Horizontal stacked bars (bytes per token by method, split by what the bytes hold). */
export function stackedBarsSvg(
  bars: readonly StackedBar[],
  partNames: readonly string[],
  title: string,
  xLabel: string,
): string {
  const rowH = 22;
  const height = MARGIN.top + MARGIN.bottom + Math.max(1, bars.length) * rowH;
  const left = 180;
  const pw = WIDTH - left - MARGIN.right;
  const max = Math.max(
    1e-9,
    ...bars.map((b) => partNames.reduce((s, p) => s + (b.parts[p] ?? 0), 0)),
  );
  const sx = (v: number) => (v / max) * pw;
  const colours = seriesColours(partNames);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`,
  );
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${WIDTH / 2 - MARGIN.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  );
  for (const t of ticks(0, max)) {
    const x = left + sx(t);
    out.push(
      `<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${height - MARGIN.bottom}" stroke="#e6e6e6"/>`,
    );
    out.push(`<text x="${x}" y="${height - MARGIN.bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  bars.forEach((b, i) => {
    const y = MARGIN.top + i * rowH;
    out.push(
      `<text x="${left - 8}" y="${y + rowH / 2 + 4}" text-anchor="end">${esc(b.label)}</text>`,
    );
    let x = left;
    let total = 0;
    for (const p of partNames) {
      const v = b.parts[p] ?? 0;
      total += v;
      const w = sx(v);
      if (w > 0)
        out.push(
          `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colours.get(p)}"><title>${esc(`${p}: ${v.toFixed(1)}`)}</title></rect>`,
        );
      x += w;
    }
    out.push(
      `<text x="${(x + 4).toFixed(1)}" y="${y + rowH / 2 + 4}" font-size="10">${total.toFixed(0)}</text>`,
    );
  });
  out.push(
    `<text x="${left + pw / 2}" y="${height - 14}" text-anchor="middle">${esc(xLabel)}</text>`,
  );
  let ly = MARGIN.top + 10;
  const lx = WIDTH - MARGIN.right + 40;
  for (const [p, c] of colours) {
    out.push(
      `<rect x="${lx - 5}" y="${ly - 6}" width="10" height="10" fill="${c}"/><text x="${lx + 10}" y="${ly + 4}">${esc(p)}</text>`,
    );
    ly += 18;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
