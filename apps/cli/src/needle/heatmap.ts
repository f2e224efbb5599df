/**
 * The needle-in-a-haystack figure: one panel per method, depth (rows) by context length
 * (columns); each square is coloured by the fraction of the margins at which the needle
 * kept the top attention weight (green all, red none) and labelled "kept/total".
 */

export interface HeatCell {
  method: string;
  tokens: number;
  depth: number;
  kept: number;
  total: number;
}

const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';
const SQUARE = 34;
const PANEL_GAP = 28;
const LEFT = 58;
const TOP = 56;

/** "4k", "128k", "1M" for powers of two of tokens; plain numbers otherwise. */
export function contextLabel(tokens: number): string {
  if (tokens >= 1 << 20 && tokens % (1 << 20) === 0) return `${tokens / (1 << 20)}M`;
  if (tokens >= 1024 && tokens % 1024 === 0) return `${tokens / 1024}k`;
  return String(tokens);
}

/** Red (0) through yellow to green (1). */
export function heatColour(fraction: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const r = f < 0.5 ? 215 : Math.round(215 - (f - 0.5) * 2 * 170);
  const g = f < 0.5 ? Math.round(48 + f * 2 * 150) : 198;
  return `rgb(${r},${g},60)`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function needleHeatmapSvg(cells: readonly HeatCell[], title: string): string {
  const methods = [...new Set(cells.map((c) => c.method))];
  const contexts = [...new Set(cells.map((c) => c.tokens))].sort((a, b) => a - b);
  const depths = [...new Set(cells.map((c) => c.depth))].sort((a, b) => a - b);
  // columns widen when there are few contexts, so that method names fit over a panel
  const colW = Math.max(SQUARE, Math.ceil(120 / contexts.length));
  const panelW = contexts.length * colW;
  const panelH = depths.length * SQUARE;
  const perRow = Math.min(methods.length, 6);
  const rows = Math.ceil(methods.length / perRow);
  const width = Math.max(LEFT + perRow * (panelW + PANEL_GAP) + 10, 720);
  const height = TOP + rows * (panelH + 70) + 20;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" ${FONT}>${esc(title)}</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#555" ${FONT}>rows: needle depth; colour: share of margins at which the needle keeps the top attention weight (kept/total)</text>`,
  ];
  methods.forEach((method, m) => {
    const x0 = LEFT + (m % perRow) * (panelW + PANEL_GAP);
    const y0 = TOP + Math.floor(m / perRow) * (panelH + 70) + 18;
    parts.push(
      `<text x="${x0 + panelW / 2}" y="${y0 - 6}" text-anchor="middle" font-size="12" font-weight="bold" ${FONT}>${esc(method)}</text>`,
    );
    depths.forEach((depth, r) => {
      if (m % perRow === 0) {
        parts.push(
          `<text x="${x0 - 6}" y="${y0 + r * SQUARE + SQUARE / 2 + 4}" text-anchor="end" font-size="10" ${FONT}>${Math.round(depth * 100)}%</text>`,
        );
      }
      contexts.forEach((tokens, c) => {
        const cell = cells.find(
          (x) => x.method === method && x.tokens === tokens && x.depth === depth,
        );
        const x = x0 + c * colW;
        const y = y0 + r * SQUARE;
        const fill = cell ? heatColour(cell.kept / cell.total) : '#eeeeee';
        parts.push(
          `<rect x="${x}" y="${y}" width="${colW - 2}" height="${SQUARE - 2}" fill="${fill}"/>`,
        );
        if (cell) {
          parts.push(
            `<text x="${x + colW / 2 - 1}" y="${y + SQUARE / 2 + 3}" text-anchor="middle" font-size="9" ${FONT}>${cell.kept}/${cell.total}</text>`,
          );
        }
      });
    });
    contexts.forEach((tokens, c) => {
      parts.push(
        `<text x="${x0 + c * colW + colW / 2 - 1}" y="${y0 + panelH + 12}" text-anchor="middle" font-size="10" ${FONT}>${contextLabel(tokens)}</text>`,
      );
    });
    parts.push(
      `<text x="${x0 + panelW / 2}" y="${y0 + panelH + 28}" text-anchor="middle" font-size="10" fill="#555" ${FONT}>context length</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
