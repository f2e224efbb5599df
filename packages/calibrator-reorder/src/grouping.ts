import type { KMeansResult } from './kmeans.js';
import { assertInt, invalid } from './validate.js';

export type Grouping = 'cluster' | 'equal';

/** A channel reordering: perm[j] = original channel at reordered position j, plus groups. */
export interface ChannelGroups {
  perm: Uint32Array;
  /** Group g covers reordered positions [groupOffsets[g], groupOffsets[g+1]). */
  groupOffsets: Uint32Array;
}

/**
 * Number of k-means clusters for `channels` = kvHidden and nominal group size G:
 * k = kvHidden / G (SKVQ.md section 1). G must divide kvHidden, so that the 'equal' variant
 * has exactly k groups of G and both variants have the same group count (same metadata).
 */
export function clusterCount(channels: number, groupSize: number): number {
  const where = 'clusterCount';
  assertInt(channels, 1, 'channels', where);
  assertInt(groupSize, 1, 'groupSize', where);
  if (channels % groupSize !== 0) {
    invalid(
      where,
      `group size ${groupSize} does not divide kvHidden ${channels}; choose a divisor of ${channels}`,
      { channels, groupSize },
    );
  }
  return channels / groupSize;
}

/**
 * Turns clusters of channels into a permutation and groups (SKVQ.md section 1).
 *
 * Order: clusters by centroid midpoint (min + max) ascending, then centroid min, then
 * cluster index, so negative-offset outlier channels come first and positive ones last
 * (one group each end instead of one per outlier); inside a cluster see `key` below. Ties
 * are broken by indices, so the result is deterministic.
 *
 * - 'cluster': one group per non-empty cluster (unequal sizes; the official code).
 * - 'equal': the same order cut into groups of exactly `groupSize` (GPU-friendly).
 */
export function groupChannels(
  min: Float32Array,
  max: Float32Array,
  clusters: Pick<KMeansResult, 'k' | 'assignments' | 'centroids'>,
  grouping: Grouping,
  groupSize: number,
): ChannelGroups {
  const where = 'groupChannels';
  const channels = min.length;
  if (max.length !== channels || clusters.assignments.length !== channels) {
    invalid(where, 'min, max and assignments must have one entry per channel');
  }
  if (grouping !== 'cluster' && grouping !== 'equal') {
    invalid(where, `grouping ${String(grouping)}; expected cluster, equal`, { grouping });
  }
  const { k, assignments, centroids } = clusters;
  const clusterRank = new Uint32Array(k);
  const clusterOrder = Array.from({ length: k }, (_, c) => c).sort((a, b) => {
    const ma = centroids[2 * a + 1]! + centroids[2 * a]!;
    const mb = centroids[2 * b + 1]! + centroids[2 * b]!;
    return ma - mb || centroids[2 * a]! - centroids[2 * b]! || a - b;
  });
  clusterOrder.forEach((c, rank) => {
    clusterRank[c] = rank;
  });
  // Inside a cluster: towards the negative end, channels by max ascending; towards the
  // positive end, by min ascending. Channels next to an extreme neighbour cluster are then
  // the ones that widen its equal-size group least.
  const key = (ch: number) => {
    const c = assignments[ch]!;
    return centroids[2 * c]! + centroids[2 * c + 1]! < 0 ? max[ch]! : min[ch]!;
  };
  const order = Array.from({ length: channels }, (_, ch) => ch).sort((a, b) => {
    const ca = clusterRank[assignments[a]!]!;
    const cb = clusterRank[assignments[b]!]!;
    return ca - cb || key(a) - key(b) || a - b;
  });
  const perm = Uint32Array.from(order);
  if (grouping === 'equal') {
    clusterCount(channels, groupSize);
    const offsets = new Uint32Array(channels / groupSize + 1);
    for (let g = 0; g < offsets.length; g++) offsets[g] = g * groupSize;
    return { perm, groupOffsets: offsets };
  }
  const offsets = [0];
  for (let j = 1; j < channels; j++) {
    if (assignments[order[j]!] !== assignments[order[j - 1]!]) offsets.push(j);
  }
  offsets.push(channels);
  return { perm, groupOffsets: Uint32Array.from(offsets) };
}
