import { type PolicyDecision, SkvqError } from '@skvq/core';

/** A run of consecutive leaving positions with one fate and one source. */
export interface Run {
  first: number;
  count: number;
  /** Kept at full precision for good (true) or quantized (false). */
  keep: boolean;
}

/** Where the tokens leaving the window go, and where the window starts afterwards. */
export interface LeavingPlan {
  runs: Run[];
  /** First position still in the window after this append. */
  leaveEnd: number;
}

/**
 * Applies the policy's decision after one check. The policy owns the window: the positions
 * it names (quantized or kept) are the ones leaving now. The check is that together they
 * are the oldest window positions windowStart, windowStart+1, ... each exactly once and
 * ascending in each list, that they were appended (below `end`), and that what stays fits
 * the window storage (`capacity`, the policy's own window). Runs are cut where the source
 * changes from window rows (before `start`) to input rows.
 */
export function planLeaving(
  decision: PolicyDecision,
  windowStart: number,
  start: number,
  end: number,
  capacity: number,
  layer: number,
): LeavingPlan {
  const { quantize, keep } = decision ?? {};
  if (!(quantize instanceof Int32Array) || !(keep instanceof Int32Array)) {
    throw badDecision(layer, windowStart, 'quantize and keep must be Int32Arrays');
  }
  const runs: Run[] = [];
  let qi = 0;
  let ki = 0;
  let p = windowStart;
  for (; qi < quantize.length || ki < keep.length; p++) {
    let isKeep: boolean;
    if (quantize[qi] === p) {
      isKeep = false;
      qi++;
    } else if (keep[ki] === p) {
      isKeep = true;
      ki++;
    } else {
      throw badDecision(layer, windowStart, `position ${p} is missing or named twice`);
    }
    if (p >= end) {
      throw badDecision(layer, windowStart, `position ${p} has not been appended (${end} tokens)`);
    }
    const last = runs[runs.length - 1];
    if (last !== undefined && last.keep === isKeep && p !== start) last.count++;
    else runs.push({ first: p, count: 1, keep: isKeep });
  }
  if (end - p > capacity) {
    throw badDecision(
      layer,
      windowStart,
      `${end - p} tokens would stay in a window of ${capacity}`,
    );
  }
  return { runs, leaveEnd: p };
}

function badDecision(layer: number, from: number, why: string): SkvqError {
  return new SkvqError(
    'INVALID_PLUGIN',
    `quantized cache: the policy of layer ${layer} must name the positions leaving its window, oldest first from ${from}, each exactly once (quantized or kept), and keep at most its window in it; ${why}`,
    { details: { layer, from } },
  );
}
