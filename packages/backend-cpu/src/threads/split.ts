import { type KvSegment, metaBytesPerUnit, rowCodeBytes, tokensPerMetaUnit } from '@skvq/core';

/**
 * How an attention job is cut into per-thread shares.
 *
 * Decode (split-K, flash-decoding): the positions 0 .. length-1 are cut into contiguous
 * ranges of about equal size; each share holds, for keys and values alike, the tokens whose
 * positions fall in its range, as views of the same arrays (no copy). Segments straddling a
 * cut are sliced at the cut. Channel-block pages (KIVI keys) can only be cut at a block
 * boundary, so a cut inside one moves down to that boundary.
 *
 * Prefill is split by query rows instead (rowShares): every thread reads the whole cache,
 * but each row's result is then exactly the single-thread one, and a prefill's cost is
 * dominated by the row x position dot products, not by decoding the cache.
 */

export interface SegmentShare {
  keys: KvSegment[];
  values: KvSegment[];
}

/** Tokens of `positions[0 .. count)` (ascending) below `cut`. */
function lowerBound(positions: Int32Array, count: number, cut: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((positions[mid] as number) < cut) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function ascending(seg: KvSegment): boolean {
  for (let i = 1; i < seg.count; i++) {
    if ((seg.positions[i] as number) <= (seg.positions[i - 1] as number)) return false;
  }
  return true;
}

/** Tokens first .. first+count-1 of a segment, as views of its arrays. */
export function sliceSegment(
  seg: KvSegment,
  first: number,
  count: number,
  channels: number,
): KvSegment {
  const positions = seg.positions.subarray(first, first + count);
  if (seg.kind === 'fp') {
    const data = seg.data.subarray(first * channels, (first + count) * channels);
    return { kind: 'fp', precision: seg.precision, count, data, positions } as KvSegment;
  }
  const rowBytes = rowCodeBytes(seg.layout);
  const unit = tokensPerMetaUnit(seg.layout);
  const metaBytes = metaBytesPerUnit(seg.layout);
  const metaFirst = (first / unit) * metaBytes;
  return {
    kind: 'packed',
    layout: seg.layout,
    count,
    codes: seg.codes.subarray(first * rowBytes, (first + count) * rowBytes),
    meta: seg.meta.subarray(metaFirst, metaFirst + Math.ceil(count / unit) * metaBytes),
    positions,
  };
}

/** Moves cuts that fall inside a channel-block unit down to its first token; false if stuck. */
function alignCuts(cuts: number[], segments: readonly KvSegment[]): boolean {
  for (let round = 0; round < 4; round++) {
    let moved = false;
    for (const seg of segments) {
      if (seg.kind !== 'packed') continue;
      const unit = tokensPerMetaUnit(seg.layout);
      if (unit === 1) continue;
      for (let c = 0; c < cuts.length; c++) {
        const t = lowerBound(seg.positions, seg.count, cuts[c] as number);
        if (t > 0 && t < seg.count && t % unit !== 0) {
          cuts[c] = seg.positions[t - (t % unit)] as number;
          moved = true;
        }
      }
    }
    if (!moved) return true;
  }
  return false;
}

/**
 * Up to `pieces` shares of contiguous position ranges, or null when the segments cannot be
 * cut (a segment whose positions are not ascending, or channel-block units that no common
 * cut fits): the caller then runs the job on one thread.
 */
export function positionShares(
  keys: readonly KvSegment[],
  values: readonly KvSegment[],
  length: number,
  pieces: number,
  channels: number,
): SegmentShare[] | null {
  const all = [...keys, ...values];
  if (!all.every(ascending)) return null;
  const cuts: number[] = [];
  for (let i = 1; i < pieces; i++) cuts.push(Math.round((i * length) / pieces));
  if (!alignCuts(cuts, all)) return null;
  const bounds = [0, ...cuts, length].filter((b, i, list) => i === 0 || b > (list[i - 1] ?? 0));
  const shares: SegmentShare[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const a = bounds[i] as number;
    const b = bounds[i + 1] as number;
    const take = (segments: readonly KvSegment[]) => {
      const out: KvSegment[] = [];
      for (const seg of segments) {
        const t0 = lowerBound(seg.positions, seg.count, a);
        const t1 = lowerBound(seg.positions, seg.count, b);
        if (t1 > t0) out.push(sliceSegment(seg, t0, t1 - t0, channels));
      }
      return out;
    };
    shares.push({ keys: take(keys), values: take(values) });
  }
  return shares;
}

/** (row, position) pairs a job attends: its work, in the units of the threading threshold. */
export function jobWork(rows: number, start: number, causal: boolean, length: number): number {
  // Causal row r sees start + r + 1 positions.
  return causal ? rows * (start + 1) + (rows * (rows - 1)) / 2 : rows * length;
}

/**
 * Up to `pieces` consecutive row ranges [first, count] of about equal work (a causal row
 * sees more positions the later it is, so later ranges are shorter).
 */
export function rowShares(
  rows: number,
  start: number,
  causal: boolean,
  length: number,
  pieces: number,
): Array<[number, number]> {
  const total = jobWork(rows, start, causal, length);
  const shares: Array<[number, number]> = [];
  let first = 0;
  let done = 0;
  for (let i = 1; i <= pieces && first < rows; i++) {
    const target = (total * i) / pieces;
    let end = first;
    while (end < rows && (i === pieces || done < target)) {
      done += causal ? start + end + 1 : length;
      end++;
    }
    if (end > first) shares.push([first, end - first]);
    first = end;
  }
  return shares;
}
