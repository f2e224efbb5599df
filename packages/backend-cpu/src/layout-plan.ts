import type { QuantLayout } from '@skvq/core';

/**
 * Per-layout index table for reading packed rows into original channel order:
 * `storageOf[c]` is the stored position of original channel c (the inverse of perm), and
 * `pairs` the scale/zero pairs per metadata unit (groups, or channels for channel-block).
 * Built once per layout object and cached, so a decode step costs no setup.
 */
export interface LayoutPlan {
  readonly storageOf: Uint32Array;
  readonly pairs: number;
}

const plans = new WeakMap<QuantLayout, LayoutPlan>();

export function layoutPlan(layout: QuantLayout): LayoutPlan {
  const cached = plans.get(layout);
  if (cached) return cached;
  const channels = layout.channels;
  const storageOf = new Uint32Array(channels);
  for (let j = 0; j < channels; j++) {
    const perm = layout.kind === 'token-group' ? layout.perm : null;
    storageOf[perm === null ? j : (perm[j] as number)] = j;
  }
  const pairs = layout.kind === 'token-group' ? layout.groupOffsets.length - 1 : channels;
  const plan = { storageOf, pairs };
  plans.set(layout, plan);
  return plan;
}
