import type { QuantLayout } from '@skvq/core';

/**
 * Per-layout index tables every backend needs to read or write packed rows, built once per
 * layout object and cached (a decode step costs no setup):
 * - `channelOf[j]`: original channel stored at position j (perm, or the identity);
 * - `storageOf[c]`: stored position of original channel c (the inverse of perm);
 * - `pairOf[j]`: which scale/zero pair of a metadata unit stored position j uses: its
 *   group (token-group) or its channel (channel-block, where j = c);
 * - `pairs`: scale/zero pairs per metadata unit (groups, or channels for channel-block).
 */
export interface LayoutPlan {
  readonly channelOf: Uint32Array;
  readonly storageOf: Uint32Array;
  readonly pairOf: Uint32Array;
  readonly pairs: number;
}

const plans = new WeakMap<QuantLayout, LayoutPlan>();

export function layoutPlan(layout: QuantLayout): LayoutPlan {
  const cached = plans.get(layout);
  if (cached) return cached;
  const channels = layout.channels;
  const perm = layout.kind === 'token-group' ? layout.perm : null;
  const channelOf = new Uint32Array(channels);
  const storageOf = new Uint32Array(channels);
  for (let j = 0; j < channels; j++) {
    const c = perm === null ? j : (perm[j] as number);
    channelOf[j] = c;
    storageOf[c] = j;
  }
  const pairOf = new Uint32Array(channels);
  let pairs = channels;
  if (layout.kind === 'token-group') {
    const offsets = layout.groupOffsets;
    pairs = offsets.length - 1;
    for (let g = 0; g < pairs; g++) pairOf.fill(g, offsets[g] as number, offsets[g + 1] as number);
  } else {
    for (let j = 0; j < channels; j++) pairOf[j] = j;
  }
  const plan = { channelOf, storageOf, pairOf, pairs };
  plans.set(layout, plan);
  return plan;
}
