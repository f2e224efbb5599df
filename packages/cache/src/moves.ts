import type { KvStream } from '@skvq/core';
import type { CacheLayer } from './layer.js';
import { quantizableMagnitude, rowsWithin } from './representable.js';
import type { Run } from './run-plan.js';
import type { MoveRows } from './store.js';

/** Rows that leave the window together and go to one place (kept or quantized). */
export interface Move {
  keep: boolean;
  count: number;
  positions: Int32Array;
  /** Host float32 rows, or (device) the rows where they are in the window's store. */
  k: MoveRows;
  v: MoveRows;
}

function subRows(x: MoveRows, channels: number, first: number, count: number): MoveRows {
  return x instanceof Float32Array
    ? x.subarray(first * channels, (first + count) * channels)
    : x.slice(first, count);
}

/**
 * The rows each leaving run moves (from the window or the appended input) and where they
 * go, computed before anything is stored (reads only), so an append cannot fail half-way.
 * A token of a quantized run that the metadata format cannot hold (representable.ts) is
 * kept at full precision instead, in both streams, so K and V hold the same tokens alike.
 * On a device, window rows are never read: they move as store rows, and whether each can
 * be quantized was decided when it entered the window (WindowBuffer flags).
 */
export function planMoves(
  state: CacheLayer,
  runs: readonly Run[],
  input: Record<KvStream, Float32Array>,
  start: number,
  windowStart: number,
  channels: number,
  device: boolean,
): Move[] {
  const ch = channels;
  const moves: Move[] = [];
  for (const run of runs) {
    const fromWindow = run.first < start;
    const rows = (name: KvStream): MoveRows => {
      if (!fromWindow) {
        return input[name].subarray((run.first - start) * ch, (run.first - start + run.count) * ch);
      }
      return device
        ? state.window.rows(name, run.first - windowStart, run.count)
        : state.window.read(name, run.first - windowStart, run.count);
    };
    const k = rows('k');
    const v = rows('v');
    let ok: boolean[] | null = null;
    if (!run.keep) {
      if (k instanceof Float32Array && v instanceof Float32Array) {
        const kOk = rowsWithin(k, run.count, ch, quantizableMagnitude(state.k.layout));
        const vOk = rowsWithin(v, run.count, ch, quantizableMagnitude(state.v.layout));
        ok = kOk.map((good, i) => good && vOk[i]!);
      } else ok = state.window.quantizableRows(run.first - windowStart, run.count);
    }
    const keeps = (i: number) => ok === null || !ok[i];
    let i = 0;
    while (i < run.count) {
      const keep = keeps(i);
      let j = i + 1;
      while (j < run.count && keeps(j) === keep) j++;
      moves.push({
        keep,
        count: j - i,
        positions: Int32Array.from({ length: j - i }, (_, n) => run.first + i + n),
        k: subRows(k, ch, i, j - i),
        v: subRows(v, ch, i, j - i),
      });
      i = j;
    }
  }
  return moves;
}
