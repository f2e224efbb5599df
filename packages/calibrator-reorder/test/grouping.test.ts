import { isSkvqError, mulberry32 } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { clusterCount, groupChannels, kmeans2d } from '../src/index.js';

function channelsWithOutliers(n: number) {
  const r = mulberry32(4);
  const min = new Float32Array(n);
  const max = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    const big = c % 13 === 5 ? 30 : 1;
    min[c] = -(1 + r()) * big;
    max[c] = (1 + r()) * big;
  }
  return { min, max };
}

function isPermutation(perm: Uint32Array): boolean {
  return [...perm].sort((a, b) => a - b).every((v, i) => v === i);
}

describe('groupChannels', () => {
  const { min, max } = channelsWithOutliers(64);
  const points = new Float64Array(128);
  for (let c = 0; c < 64; c++) {
    points[2 * c] = min[c]!;
    points[2 * c + 1] = max[c]!;
  }
  const clusters = kmeans2d(points, 4, { seed: 3 });

  it("'cluster' gives one group per non-empty cluster, channels sorted by cluster", () => {
    const g = groupChannels(min, max, clusters, 'cluster', 16);
    expect(isPermutation(g.perm)).toBe(true);
    const sizes = [...clusters.sizes].filter((s) => s > 0).sort((a, b) => a - b);
    const groupSizes = [];
    for (let i = 1; i < g.groupOffsets.length; i++) {
      groupSizes.push(g.groupOffsets[i]! - g.groupOffsets[i - 1]!);
      const cluster = clusters.assignments[g.perm[g.groupOffsets[i - 1]!]!];
      for (let j = g.groupOffsets[i - 1]!; j < g.groupOffsets[i]!; j++) {
        expect(clusters.assignments[g.perm[j]!]).toBe(cluster);
      }
    }
    expect(groupSizes.sort((a, b) => a - b)).toEqual(sizes);
    // The 30x outlier channels (every 13th from 5) never share a group with normal ones.
    for (let i = 1; i < g.groupOffsets.length; i++) {
      const kinds = new Set<boolean>();
      for (let j = g.groupOffsets[i - 1]!; j < g.groupOffsets[i]!; j++)
        kinds.add(g.perm[j]! % 13 === 5);
      expect(kinds.size).toBe(1);
    }
  });

  it("'equal' keeps the cluster order and cuts groups of exactly G", () => {
    const eq = groupChannels(min, max, clusters, 'equal', 16);
    const cl = groupChannels(min, max, clusters, 'cluster', 16);
    expect([...eq.perm]).toEqual([...cl.perm]);
    expect([...eq.groupOffsets]).toEqual([0, 16, 32, 48, 64]);
  });

  it('k = kvHidden / G and G must divide kvHidden', () => {
    expect(clusterCount(128, 16)).toBe(8);
    try {
      clusterCount(100, 16);
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toContain('group size 16 does not divide kvHidden 100');
    }
    expect(() => groupChannels(min, max, clusters, 'equal', 24)).toThrow(/does not divide/);
    expect(() => groupChannels(min, max, clusters, 'other' as 'equal', 16)).toThrow(
      /expected cluster, equal/,
    );
  });
});
