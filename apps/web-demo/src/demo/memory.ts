import { type KvGeometry, kvHidden } from '@skvq/core';

/** Bytes of one fp16 element: the usual deployment baseline the cache is compared with. */
export const FP16_BYTES = 2;

/** Bytes an fp16 KV cache would hold for `tokens` tokens: K and V, every layer. */
export function fp16CacheBytes(geometry: KvGeometry, tokens: number): number {
  return tokens * geometry.layers * 2 * kvHidden(geometry) * FP16_BYTES;
}

/** One point of the memory chart. */
export interface MemoryPoint {
  tokens: number;
  bytes: number;
  fp16Bytes: number;
}

const CHART_W = 360;
const CHART_H = 160;
const PAD = 32;

function polyline(
  points: readonly MemoryPoint[],
  pick: (p: MemoryPoint) => number,
  maxX: number,
  maxY: number,
): string {
  return points
    .map((p) => {
      const x = PAD + ((CHART_W - 2 * PAD) * p.tokens) / maxX;
      const y = CHART_H - PAD - ((CHART_H - 2 * PAD) * pick(p)) / maxY;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

/**
 * Inline SVG of the cache's bytes against fp16 as the context grows (both lines from the
 * origin-scaled axes). Pure string: tested in Node, set as innerHTML in the page.
 */
export function memoryChartSvg(points: readonly MemoryPoint[]): string {
  const maxX = Math.max(1, ...points.map((p) => p.tokens));
  const maxY = Math.max(1, ...points.map((p) => Math.max(p.bytes, p.fp16Bytes)));
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${CHART_W} ${CHART_H}" width="${CHART_W}" height="${CHART_H}" role="img" aria-label="cache bytes against fp16">`,
    `<line x1="${PAD}" y1="${CHART_H - PAD}" x2="${CHART_W - PAD}" y2="${CHART_H - PAD}" stroke="#888"/>`,
    `<line x1="${PAD}" y1="${PAD}" x2="${PAD}" y2="${CHART_H - PAD}" stroke="#888"/>`,
    `<polyline data-series="fp16" fill="none" stroke="#d9534f" stroke-dasharray="4 3" stroke-width="2" points="${polyline(points, (p) => p.fp16Bytes, maxX, maxY)}"/>`,
    `<polyline data-series="cache" fill="none" stroke="#0275d8" stroke-width="2" points="${polyline(points, (p) => p.bytes, maxX, maxY)}"/>`,
    `<text x="${PAD}" y="${PAD - 8}" font-size="10">${kib(maxY)}</text>`,
    `<text x="${CHART_W - PAD}" y="${CHART_H - PAD + 14}" font-size="10" text-anchor="end">${maxX} tokens</text>`,
    `<text x="${PAD + 6}" y="${CHART_H - 6}" font-size="10" fill="#0275d8">cache</text>`,
    `<text x="${PAD + 50}" y="${CHART_H - 6}" font-size="10" fill="#d9534f">fp16</text>`,
    '</svg>',
  ].join('');
}
