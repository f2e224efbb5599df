import type { KvGeometry, TokenGroupLayout } from '@skvq/core';

/**
 * Host tables of the module's packedKeysPost kernel (keys stored after RoPE, or no RoPE):
 * per group, its channels sorted by KV head into runs, so that q . k of one run is
 * scale * sum(q_j * code_j) + zero * sum(q_j) and the codes are never dequantized.
 */
export interface RunTables {
  /** [k] = 4 * stored position of the k-th channel in run order (byte offset into tbuf). */
  ridx: Int32Array;
  /** [r] = (end k of run r, 32 * its group: the offset of its scale/zero in a block). */
  runs: Int32Array;
  /** [kh] = end r of KV head kh's runs. */
  headRuns: Int32Array;
  /** [k] = index of the channel's value in a query row, for gq = 0 (add gq * headDim). */
  qIndex: Int32Array;
  /** Number of runs. */
  count: number;
}

const cache = new WeakMap<TokenGroupLayout, Map<string, RunTables>>();

/**
 * Runs: the channels of one KV head within one group, ordered by KV head, then group, then
 * stored position. The kernel keeps each head's score in a register across its runs.
 */
export function runTables(layout: TokenGroupLayout, geometry: KvGeometry): RunTables {
  const { kvHeads, headDim, queryHeads } = geometry;
  const key = `${queryHeads}/${kvHeads}/${headDim}`;
  let byKey = cache.get(layout);
  if (byKey === undefined) {
    byKey = new Map();
    cache.set(layout, byKey);
  }
  const cached = byKey.get(key);
  if (cached !== undefined) return cached;
  const group = queryHeads / kvHeads;
  const channels = layout.channels;
  const perm = layout.perm;
  const offs = layout.groupOffsets;
  const groupOf = new Int32Array(channels);
  for (let g = 0; g + 1 < offs.length; g++) {
    groupOf.fill(g, offs[g] as number, offs[g + 1] as number);
  }
  const channelOf = (j: number) => (perm === null ? j : (perm[j] as number));
  const headOf = (j: number) => Math.floor(channelOf(j) / headDim);
  const order = Array.from({ length: channels }, (_, j) => j);
  order.sort(
    (a, b) => headOf(a) - headOf(b) || (groupOf[a] as number) - (groupOf[b] as number) || a - b,
  );
  const ridx = new Int32Array(channels);
  const qIndex = new Int32Array(channels);
  const runs: number[] = [];
  const headRuns = new Int32Array(kvHeads);
  for (let k = 0; k < channels; k++) {
    const j = order[k] as number;
    const c = channelOf(j);
    const kh = Math.floor(c / headDim);
    ridx[k] = 4 * j;
    qIndex[k] = kh * group * headDim + (c - kh * headDim);
    const next = order[k + 1];
    if (next === undefined || headOf(next) !== kh || groupOf[next] !== groupOf[j]) {
      runs.push(k + 1, 32 * (groupOf[j] as number));
      headRuns[kh] = runs.length / 2;
    }
  }
  const tables = { ridx, runs: Int32Array.from(runs), headRuns, qIndex, count: runs.length / 2 };
  byKey.set(key, tables);
  return tables;
}
/**
 * The rotated query in run order, qs[k][gq], and its sum per run, qrun[r][gq] (float32
 * sums, added in run order), written at the given float32 indices.
 */
export function writeRunQuery(
  qr: Float32Array,
  tables: RunTables,
  geometry: KvGeometry,
  f32: Float32Array,
  qsAt: number,
  qrunAt: number,
): void {
  const { headDim, queryHeads, kvHeads } = geometry;
  const group = queryHeads / kvHeads;
  const { qIndex, runs, count } = tables;
  let k = 0;
  for (let r = 0; r < count; r++) {
    const end = runs[2 * r] as number;
    for (let gq = 0; gq < group; gq++) {
      let sum = 0;
      for (let i = k; i < end; i++) {
        const v = qr[(qIndex[i] as number) + gq * headDim] as number;
        f32[qsAt + i * group + gq] = v;
        sum = Math.fround(sum + v);
      }
      f32[qrunAt + r * group + gq] = sum;
    }
    k = end;
  }
}
