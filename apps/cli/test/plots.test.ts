import { describe, expect, it } from 'vitest';
import { paretoFrontier, scatterSvg, stackedBarsSvg, ticks } from '../src/plots.js';
import { svgToPng } from '../src/png.js';
import { renderCsv, renderTable } from '../src/table.js';

/** Plain O(n^2) reference: a point is on the frontier when nothing dominates it. */
function frontierReference(points: { x: number; y: number }[]) {
  return points
    .filter(
      (p) => !points.some((q) => q !== p && q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y)),
    )
    .sort((a, b) => a.x - b.x);
}

describe('plots', () => {
  it('the Pareto frontier matches the brute-force definition', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let trial = 0; trial < 20; trial++) {
      const points = Array.from({ length: 25 }, () => ({
        x: Math.round(rand() * 100) / 10,
        y: Math.round(rand() * 1000) / 10,
      }));
      const fast = paretoFrontier(points);
      const ref = frontierReference(points);
      // duplicates of the same point: the frontier keeps one of them
      const key = (p: { x: number; y: number }) => `${p.x},${p.y}`;
      expect([...new Set(fast.map(key))]).toEqual([...new Set(ref.map(key))]);
    }
  });

  it('ticks cover the range with round steps', () => {
    const t = ticks(0.3, 9.7);
    expect(t[0]).toBeGreaterThanOrEqual(0.3);
    expect(t[t.length - 1]).toBeLessThanOrEqual(9.7);
    expect(t.length).toBeGreaterThanOrEqual(3);
  });

  it('draws one marker per point, the frontier, and renders to PNG', async () => {
    const points = [
      { label: 'fp32', series: 'fp', x: 32, y: 3.2 },
      { label: 'kivi', series: 'kivi', x: 3, y: 4.1 },
      { label: 'skvq', series: 'skvq', x: 2.5, y: 3.9 },
      { label: 'rtn', series: 'rtn', x: 3, y: 40 },
    ];
    const svg = scatterSvg(points, { title: 't', xLabel: 'x', yLabel: 'y', logY: true });
    // one marker per point plus one legend dot per series (4 series)
    expect(svg.match(/<circle cx=/g)?.length).toBe(points.length + 4);
    expect(svg).toContain('stroke-dasharray="5 3"');
    const png = await svgToPng(svg);
    expect(Array.from(png.subarray(0, 8))).toEqual([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
    ]);
    const bars = stackedBarsSvg(
      [{ label: 'a', parts: { codes: 10, metadata: 5 } }],
      ['codes', 'metadata'],
      't',
      'x',
    );
    expect(bars.match(/<rect x=/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('tables align and CSV quotes what needs quoting', () => {
    const t = renderTable(
      ['a', 'b'],
      [
        ['x', '1.5'],
        ['yy', '10.25'],
      ],
    );
    expect(t.split('\n')[2]).toBe('x     1.5');
    expect(
      renderCsv(
        ['a', 'b'],
        [
          ['x,y', 1],
          ['q"', Number.NaN],
        ],
      ),
    ).toBe('a,b\n"x,y",1\n"q""",\n');
  });
});
