import type { KvStream } from '@skvq/core';
import type { CacheLayer } from './layer.js';
import { quantizableMagnitude, rowsWithin } from './representable.js';
import type { Run } from './run-plan.js';

/** Rows that leave the window together and go to one place (kept or quantized). */
export interface Move {
  keep: boolean;
  count: number;
  positions: Int32Array;
  k: Float32Array;
  v: Float32Array;
}

/**
 * The rows each leaving run moves (from the window or the appended input) and where they
 * go, computed before anything is stored (reads only), so an append cannot fail half-way.
 * A token of a quantized run that the metadata format cannot hold (representable.ts) is
 * kept at full precision instead, in both streams, so K and V hold the same tokens alike.
 */
export function planMoves(
  state: CacheLayer,
  runs: readonly Run[],
  input: Record<KvStream, Float32Array>,
  start: number,
  windowStart: number,
  channels: number,
): Move[] {
  const ch = channels;
  const moves: Move[] = [];
  for (const run of runs) {
    const rows = (name: KvStream) =>
      run.first < start
        ? state.window.read(name, run.first - windowStart, run.count)
        : input[name].subarray((run.first - start) * ch, (run.first - start + run.count) * ch);
    const k = rows('k');
    const v = rows('v');
    const kOk = run.keep
      ? null
      : rowsWithin(k, run.count, ch, quantizableMagnitude(state.k.layout));
    const vOk = run.keep
      ? null
      : rowsWithin(v, run.count, ch, quantizableMagnitude(state.v.layout));
    const keeps = (i: number) => kOk === null || !kOk[i] || !vOk![i];
    let i = 0;
    while (i < run.count) {
      const keep = keeps(i);
      let j = i + 1;
      while (j < run.count && keeps(j) === keep) j++;
      moves.push({
        keep,
        count: j - i,
        positions: Int32Array.from({ length: j - i }, (_, n) => run.first + i + n),
        k: k.subarray(i * ch, j * ch),
        v: v.subarray(i * ch, j * ch),
      });
      i = j;
    }
  }
  return moves;
}
