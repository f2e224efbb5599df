import {
  type BitWidth,
  contiguousGroupOffsets,
  type KvGeometry,
  type KvStream,
  kvHidden,
  type TokenGroupLayout,
} from '@skvq/core';
import {
  type AttentionSegment,
  createChannelStats,
  groupChannels,
  kmeans2d,
  searchClipRatio,
} from '../src/index.js';
import { syntheticBatch } from './synthetic.js';

export type TableGrouping = 'contiguous' | 'reorder-equal' | 'reorder-cluster';

export interface TableRow {
  stream: KvStream;
  bits: BitWidth;
  grouping: TableGrouping;
  /** Held-out attention-output relative error with alpha = 1 (no clipping). */
  errorAlpha1: number;
  /** Alpha chosen by the search on the calibration sample. */
  alpha: number;
  /** Held-out error with the searched alpha. */
  errorSearched: number;
  /** Calibration-sample errors at alpha = 1 and at the searched alpha. */
  calAlpha1: number;
  calSearched: number;
}

export interface TableSettings {
  geometry: KvGeometry;
  groupSize: number;
  statsTokens: number;
  sampleTokens: number;
  evalTokens: number;
  bits: readonly BitWidth[];
}

/**
 * The synthetic comparison of issue 3: statistics and clip search on one draw of the
 * synthetic model (data seed 1), errors measured on a held-out draw (data seed 2), for each
 * stream x bits x grouping; fp16 metadata.
 */
export function syntheticTable(s: TableSettings): TableRow[] {
  const { geometry, groupSize } = s;
  const channels = kvHidden(geometry);
  const cal = syntheticBatch(geometry, 0, s.statsTokens, 0, 1);
  const stats = createChannelStats(geometry);
  stats.observe(0, 'k', cal.k, cal.count);
  stats.observe(0, 'v', cal.v, cal.count);
  const sample: AttentionSegment[] = [syntheticBatch(geometry, 0, s.sampleTokens, 0, 1)];
  const held = syntheticBatch(geometry, 0, s.evalTokens, 0, 2);
  const rows: TableRow[] = [];
  for (const stream of ['k', 'v'] as const) {
    const st = stats.get(0, stream);
    const points = new Float64Array(2 * channels);
    for (let c = 0; c < channels; c++) {
      points[2 * c] = st.min[c]!;
      points[2 * c + 1] = st.max[c]!;
    }
    const clusters = kmeans2d(points, channels / groupSize, { seed: 1 });
    for (const bits of s.bits) {
      for (const grouping of ['contiguous', 'reorder-equal', 'reorder-cluster'] as const) {
        const g =
          grouping === 'contiguous'
            ? { perm: null, groupOffsets: contiguousGroupOffsets(channels, groupSize) }
            : groupChannels(
                st.min,
                st.max,
                clusters,
                grouping === 'reorder-equal' ? 'equal' : 'cluster',
                groupSize,
              );
        const layout: TokenGroupLayout = {
          kind: 'token-group',
          channels,
          bits,
          meta: 'fp16',
          perm: g.perm,
          groupOffsets: g.groupOffsets,
          alpha: 1,
        };
        const search = searchClipRatio({ geometry, segments: sample, stream, layout });
        // Held-out errors at alpha = 1 and at the searched alpha (the search routine computes
        // the full-precision reference once for both).
        const held1 = searchClipRatio({ geometry, segments: [held], stream, layout, grid: [1] });
        const heldSearched =
          search.alpha === 1
            ? held1
            : searchClipRatio({ geometry, segments: [held], stream, layout, grid: [search.alpha] });
        rows.push({
          stream,
          bits,
          grouping,
          errorAlpha1: held1.error,
          alpha: search.alpha,
          errorSearched: heldSearched.error,
          calAlpha1: search.errors[search.grid.indexOf(1)]!,
          calSearched: search.error,
        });
      }
    }
  }
  return rows;
}

/** Markdown table of the rows. */
export function formatTable(rows: readonly TableRow[]): string {
  const lines = [
    '| stream | bits | grouping | err alpha=1 | searched alpha | err searched |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.stream.toUpperCase()} | ${r.bits} | ${r.grouping} | ${r.errorAlpha1.toFixed(4)} | ${r.alpha.toFixed(2)} | ${r.errorSearched.toFixed(4)} |`,
    );
  }
  return lines.join('\n');
}
