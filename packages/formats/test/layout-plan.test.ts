import {
  type ChannelBlockLayout,
  contiguousGroupOffsets,
  isSkvqError,
  type TokenGroupLayout,
} from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { layoutPlan, validateLayout } from '../src/index.js';

const tokenGroup = (perm: Uint32Array | null): TokenGroupLayout => ({
  kind: 'token-group',
  channels: 6,
  bits: 2,
  meta: 'fp16',
  perm,
  groupOffsets: Uint32Array.of(0, 2, 6),
  alpha: 1,
});

describe('layoutPlan', () => {
  it('inverts the permutation and gives each stored position its group', () => {
    const plan = layoutPlan(tokenGroup(Uint32Array.of(5, 3, 0, 1, 4, 2)));
    expect([...plan.channelOf]).toEqual([5, 3, 0, 1, 4, 2]);
    // storageOf[channelOf[j]] = j for every stored position j.
    expect([...plan.storageOf]).toEqual([2, 3, 5, 1, 4, 0]);
    expect([...plan.pairOf]).toEqual([0, 0, 1, 1, 1, 1]);
    expect(plan.pairs).toBe(2);
  });

  it('channel-block: identity order, one scale/zero pair per channel', () => {
    const layout: ChannelBlockLayout = {
      kind: 'channel-block',
      channels: 4,
      bits: 4,
      meta: 'fp32',
      blockTokens: 32,
      alpha: 1,
    };
    const plan = layoutPlan(layout);
    expect([...plan.storageOf]).toEqual([0, 1, 2, 3]);
    expect([...plan.pairOf]).toEqual([0, 1, 2, 3]);
    expect(plan.pairs).toBe(4);
  });

  it('is built once per layout object', () => {
    const layout = tokenGroup(null);
    expect(layoutPlan(layout)).toBe(layoutPlan(layout));
  });
});

describe('validateLayout', () => {
  it('accepts both kinds and rejects anything else with the allowed kinds named', () => {
    const layout = tokenGroup(null);
    expect(validateLayout(layout)).toBe(layout);
    expect(validateLayout(layout)).toBe(layout); // the second call hits the once-per-object memo
    try {
      validateLayout({ kind: 'per-tensor' } as never, 'stream k');
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error) && error.code).toBe('INVALID_ARGUMENT');
      expect(String(error)).toMatch(
        /stream k: kind per-tensor .* expected token-group, channel-block/,
      );
    }
  });

  it('a layout that failed is checked again (and fails again) every time', () => {
    const bad = { ...tokenGroup(null), groupOffsets: contiguousGroupOffsets(5, 2) };
    expect(() => validateLayout(bad)).toThrow(/groupOffsets/);
    expect(() => validateLayout(bad)).toThrow(/groupOffsets/);
  });
});
