import { isSkvqError, type KvGeometry } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { createChannelStats } from '../src/index.js';

const geometry: KvGeometry = {
  layers: 2,
  queryHeads: 2,
  kvHeads: 1,
  headDim: 4,
  rope: { style: 'half', theta: 10000 },
};

describe('ChannelStats', () => {
  it('accumulates per-channel min, max, absmax and count over batches, per layer and stream', () => {
    const stats = createChannelStats(geometry);
    stats.observe(0, 'k', Float32Array.of(1, -2, 3, 0, 5, 1, -7, 0), 2);
    stats.observe(0, 'k', Float32Array.of(-1, 0, 2, 9), 1);
    stats.observe(0, 'v', Float32Array.of(4, 4, 4, 4), 1);
    const k = stats.get(0, 'k');
    expect(k.count).toBe(3);
    expect([...k.min]).toEqual([-1, -2, -7, 0]);
    expect([...k.max]).toEqual([5, 1, 3, 9]);
    expect([...k.absmax]).toEqual([5, 2, 7, 9]);
    expect(stats.get(0, 'v').count).toBe(1);
    expect(() => stats.get(1, 'k')).toThrow(/no tokens were observed/);
  });

  it('rejects NaN/Inf and bad shapes without updating anything', () => {
    const stats = createChannelStats(geometry);
    stats.observe(1, 'v', Float32Array.of(1, 1, 1, 1), 1);
    try {
      stats.observe(1, 'v', Float32Array.of(0, Number.NaN, 0, 0), 1);
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'NON_FINITE_INPUT')).toBe(true);
    }
    expect(() =>
      stats.observe(1, 'v', Float32Array.of(Number.POSITIVE_INFINITY, 0, 0, 0), 1),
    ).toThrow(/only finite values/);
    expect(stats.get(1, 'v').count).toBe(1);
    expect([...stats.get(1, 'v').min]).toEqual([1, 1, 1, 1]);
    expect(() => stats.observe(1, 'v', new Float32Array(3), 1)).toThrow(
      /expected count \* kvHidden/,
    );
    expect(() => stats.observe(2, 'k', new Float32Array(4), 1)).toThrow(/expected 0\.\.1/);
    expect(() => stats.observe(0, 'x' as 'k', new Float32Array(4), 1)).toThrow(/expected k, v/);
  });
});
